"""Supervised training of a detector on a dataset's train split, early-stopped on val.

Adam, seeded, class-balanced cross-entropy, light augmentation (flip and a small shift),
early stopping on validation loss with the best weights kept. Two training-time defenses:

- adversarial training: a share ``adv_ratio`` of every batch is replaced by FGSM (Goodfellow
  et al. 2015) or PGD (Madry et al. 2018) examples crafted against the current weights;
- defensive distillation (Papernot et al., S&P 2016): with ``temperature`` T > 1 the loss sees
  ``logits / T``, and with a ``teacher`` the targets are its soft labels at T.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from ..attacks import create_attack
from ..data.base import Split
from ..detectors.base import Detector
from ..device import module_device, to_device
from ..metrics import best_threshold, classification_metrics

log = logging.getLogger(__name__)
RESTARTS = 4  # a dead network (its output independent of its input) is trained again from fresh weights
DEAD_SPREAD = 1e-4  # ... when its validation logit margins all lie within this


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 40
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 8
    seed: int = 0
    adv: str | None = None      # "fgsm" | "pgd": adversarial training
    adv_eps: float = 8 / 255    # L-inf budget of the training attack
    adv_ratio: float = 0.5      # share of each batch replaced by adversarial examples
    adv_steps: int = 7          # PGD steps (step size 2.5 eps / steps)
    temperature: float = 1.0    # softmax temperature of the loss (defensive distillation)

    def __post_init__(self) -> None:
        if self.adv not in (None, "fgsm", "pgd"):
            raise ValueError(f"adv must be fgsm or pgd, got {self.adv!r}")
        if not 0 < self.adv_eps <= 1 or not 0 < self.adv_ratio <= 1 or self.adv_steps < 1:
            raise ValueError("adv eps must be in (0, 1], adv ratio in (0, 1], adv steps >= 1")
        if not 1 <= self.temperature <= 1000:
            raise ValueError(f"temperature must be in [1, 1000], got {self.temperature}")


@dataclass
class TrainResult:
    epochs_run: int
    best_epoch: int
    val: dict[str, float]
    threshold: float
    history: list[dict[str, float]] = field(default_factory=list)
    restarts: int = 0  # fresh initialisations after a dead network (see fit's rebuild)


def augment(x: Tensor, g: torch.Generator, max_shift: int = 3) -> Tensor:
    """Random horizontal flip and a random shift (reflection padded) per batch; a clip's
    frames all move together.

    Shape: ``(N, 3, H, W)`` or ``(N, T, 3, H, W)``, unchanged.
    """
    if torch.rand(1, generator=g).item() < 0.5:
        x = x.flip(-1)
    dy, dx = (torch.randint(-max_shift, max_shift + 1, (2,), generator=g)).tolist()
    p = max_shift
    padded = F.pad(x.flatten(0, -4), (p, p, p, p), mode="reflect")
    h, w = x.shape[-2:]
    return padded[..., p + dy:p + dy + h, p + dx:p + dx + w].reshape(x.shape)


@torch.no_grad()
def predict_scores(detector: Detector, images: Tensor, batch_size: int = 128) -> Tensor:
    """P(fake) for every image, in eval mode. Shape ``(N, ...)`` -> ``(N,)``."""
    return _in_eval_batches(detector, detector.score, images, batch_size)


def _in_eval_batches(detector: Detector, fn: Callable[[Tensor], Tensor], images: Tensor, batch_size: int) -> Tensor:
    """``fn`` over ``images`` in batches, with ``detector`` in eval mode and no gradients."""
    detector.eval()
    device = module_device(detector)
    with torch.no_grad():
        return torch.cat([fn(to_device(images[i:i + batch_size], device)).cpu()
                          for i in range(0, len(images), batch_size)])


def _adversarial(detector: Detector, x: Tensor, y: Tensor, config: TrainConfig, step: int) -> Tensor:
    """``x`` with its first ``adv_ratio`` share replaced by examples against the current weights."""
    k = round(config.adv_ratio * len(x))
    if not config.adv or k == 0:
        return x
    steps = {"steps": config.adv_steps} if config.adv == "pgd" else {}
    attack = create_attack(config.adv, eps=config.adv_eps, backend="native", seed=config.seed + step, **steps)
    attack.first_adversarial = False  # Madry's recipe: every sample's last iterate, not its first mistake
    return torch.cat([attack.perturb(detector, x[:k], y[:k]), x[k:]])


def _logits(detector: Detector, images: Tensor, batch_size: int = 128) -> Tensor:
    return _in_eval_batches(detector, detector, images, batch_size)


def fit(detector: Detector, train: Split | Callable[[int], Split], val: Split,
        config: TrainConfig = TrainConfig(), teacher: Detector | None = None,
        rebuild: Callable[[int], Detector] | None = None) -> TrainResult:
    """Train ``detector`` in place and return its validation metrics at the best epoch.

    ``train`` is a split, or a function giving a fresh draw of the train split per epoch.
    With a ``teacher``, the targets are its soft labels at ``config.temperature``. With
    ``rebuild`` (seed -> the same architecture, freshly initialised), a network whose output stops
    depending on its input before any epoch became its best (a dead layer: every unit of a ReLU
    off) is trained again from ``rebuild``'s weights, at most :data:`RESTARTS` times. Without it
    (a user's module, perhaps pretrained), the weights are never replaced.
    """
    draw = train if callable(train) else (lambda epoch: train)
    for restart in range(RESTARTS + 1 if rebuild else 1):
        if restart and rebuild:
            log.warning("%s: its output stopped depending on its input (a dead layer); training again from "
                        "fresh weights (restart %d of %d)", type(detector).__name__, restart, RESTARTS)
            detector.load_state_dict(rebuild(restart_seed(config.seed, restart)).state_dict())
        history, best_epoch, dead = _train(detector, draw, val, config, teacher)
        if not dead:
            break
    detector.eval()
    val_scores = predict_scores(detector, val.images)
    threshold = best_threshold(val_scores, val.labels)
    metrics = classification_metrics(val_scores, val.labels, threshold)
    return TrainResult(epochs_run=len(history), best_epoch=best_epoch, val=metrics, threshold=threshold,
                       history=history, restarts=restart)


def restart_seed(seed: int, restart: int) -> int:
    """The initialisation seed of a restart: a stream of its own, never another seed's first weights."""
    return int(hashlib.sha256(f"dfbench restart {seed} {restart}".encode()).hexdigest()[:8], 16)


def _train(detector: Detector, draw: Callable[[int], Split], val: Split, config: TrainConfig,
           teacher: Detector | None) -> tuple[list[dict[str, float]], int, bool]:
    """One training run (early-stopped, best weights loaded): its history, its best epoch, and
    whether it went dead (:func:`_dead`) before any epoch became its best. A dead epoch is never
    the best; one after a live best ends the run like early stopping."""
    train = draw(0)
    torch.manual_seed(config.seed)
    g = torch.Generator().manual_seed(config.seed)
    device = module_device(detector)
    opt = torch.optim.Adam(detector.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.1, patience=2)
    counts = torch.bincount(train.labels, minlength=2).float()
    class_weight = (counts.sum() / (2 * counts.clamp_min(1))).to(device)

    best_loss, best_state, best_epoch, bad = float("inf"), None, 0, 0
    history: list[dict[str, float]] = []
    for epoch in range(1, config.epochs + 1):
        detector.train()
        train = draw(epoch - 1)
        perm = torch.randperm(len(train), generator=g)
        total = 0.0
        for step, i in enumerate(range(0, len(perm), config.batch_size)):
            idx = perm[i:i + config.batch_size]
            y = train.labels[idx].to(device)
            x = _adversarial(detector, augment(train.images[idx], g).to(device), y, config, epoch * 10_000 + step)
            logits = detector(x) / config.temperature
            if teacher is None:
                loss = F.cross_entropy(logits, y, weight=class_weight)
            else:
                with torch.no_grad():
                    soft = (teacher.eval()(x) / config.temperature).softmax(1)
                loss = -(soft * logits.log_softmax(1)).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        val_logits = _logits(detector, val.images)
        val_scores = (val_logits / config.temperature).softmax(1)[:, 1].clamp(1e-6, 1 - 1e-6)
        val_loss = F.binary_cross_entropy(val_scores, val.labels.float()).item()
        val_acc = ((val_scores >= 0.5).long() == val.labels).float().mean().item()
        sched.step(val_loss)
        history.append({"epoch": epoch, "train_loss": total / len(train), "val_loss": val_loss, "val_acc": val_acc})
        log.debug("epoch %d train_loss %.4f val_loss %.4f val_acc %.3f", epoch, total / len(train), val_loss, val_acc)
        if _dead(val_logits):
            if best_state is None:
                return history, best_epoch, True
            break
        if val_loss < best_loss - 1e-4:
            best_loss, best_state, best_epoch, bad = val_loss, copy.deepcopy(detector.state_dict()), epoch, 0
        else:
            bad += 1
            if bad >= config.patience:
                break
    if best_state is not None:
        detector.load_state_dict(best_state)
    return history, best_epoch, False


def _dead(logits: Tensor) -> bool:
    """Validation logit margins ``(N, 2)`` all within :data:`DEAD_SPREAD`: the output no longer depends on the input."""
    margins = logits[:, 1] - logits[:, 0]
    return len(margins) > 1 and float(margins.max() - margins.min()) < DEAD_SPREAD
