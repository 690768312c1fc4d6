"""Supervised training of a detector on a dataset's train split, early-stopped on val.

Adam, seeded, class-balanced cross-entropy, light augmentation (flip and a small shift),
early stopping on validation loss with the best weights kept.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
import logging
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from ..benchmark.metrics import best_threshold, classification_metrics
from ..data.base import Split
from ..detectors.base import Detector

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 40
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 8
    seed: int = 0


@dataclass
class TrainResult:
    epochs_run: int
    best_epoch: int
    val: dict[str, float]
    threshold: float
    history: list[dict[str, float]] = field(default_factory=list)


def augment(x: Tensor, g: torch.Generator, max_shift: int = 3) -> Tensor:
    """Random horizontal flip and a random shift (reflection padded) per batch.

    Shape: ``(N, 3, H, W)`` -> ``(N, 3, H, W)``.
    """
    if torch.rand(1, generator=g).item() < 0.5:
        x = x.flip(3)
    dy, dx = (torch.randint(-max_shift, max_shift + 1, (2,), generator=g)).tolist()
    p = max_shift
    padded = F.pad(x, (p, p, p, p), mode="reflect")
    h, w = x.shape[-2:]
    return padded[..., p + dy:p + dy + h, p + dx:p + dx + w]


@torch.no_grad()
def predict_scores(detector: Detector, images: Tensor, batch_size: int = 128) -> Tensor:
    """P(fake) for every image, in eval mode. Shape ``(N, ...)`` -> ``(N,)``."""
    detector.eval()
    device = next(detector.parameters()).device
    return torch.cat([detector.score(images[i:i + batch_size].to(device)).cpu()
                      for i in range(0, len(images), batch_size)])


def fit(detector: Detector, train: Split | Callable[[int], Split], val: Split,
        config: TrainConfig = TrainConfig()) -> TrainResult:
    """Train ``detector`` in place and return its validation metrics at the best epoch.

    ``train`` is a split, or a function giving a fresh draw of the train split per epoch.
    """
    draw = train if callable(train) else (lambda epoch: train)
    train = draw(0)
    torch.manual_seed(config.seed)
    g = torch.Generator().manual_seed(config.seed)
    device = next(detector.parameters()).device
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
        for i in range(0, len(perm), config.batch_size):
            idx = perm[i:i + config.batch_size]
            x = augment(train.images[idx], g).to(device)
            y = train.labels[idx].to(device)
            loss = F.cross_entropy(detector(x), y, weight=class_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        val_scores = predict_scores(detector, val.images).clamp(1e-6, 1 - 1e-6)
        val_loss = F.binary_cross_entropy(val_scores, val.labels.float()).item()
        val_acc = ((val_scores >= 0.5).long() == val.labels).float().mean().item()
        sched.step(val_loss)
        history.append({"epoch": epoch, "train_loss": total / len(train), "val_loss": val_loss, "val_acc": val_acc})
        log.debug("epoch %d train_loss %.4f val_loss %.4f val_acc %.3f", epoch, total / len(train), val_loss, val_acc)
        if val_loss < best_loss - 1e-4:
            best_loss, best_state, best_epoch, bad = val_loss, copy.deepcopy(detector.state_dict()), epoch, 0
        else:
            bad += 1
            if bad >= config.patience:
                break
    if best_state is not None:
        detector.load_state_dict(best_state)
    detector.eval()
    val_scores = predict_scores(detector, val.images)
    threshold = best_threshold(val_scores, val.labels)
    metrics = classification_metrics(val_scores, val.labels, threshold)
    return TrainResult(epochs_run=len(history), best_epoch=best_epoch, val=metrics, threshold=threshold,
                       history=history)
