"""Get a trained detector: from a weights file, from the cache, or by training it now."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from ..data import create_dataset
from ..detectors import Detector, create_detector, detectors
from ..detectors.fingerprint import code_fingerprint
from ..detectors.from_file import HF_PREFIX
from ..detectors.hf import folder_digest, load_huggingface
from ..detectors.per_frame import PerFrame, for_modality
from ..errors import ConfigError
from .checkpoint import Card, cache_path, claim_cache, load_weights, read_card, save_checkpoint
from .fit import TrainConfig, fit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Trained:
    detector: Detector
    weights_path: Path | None  # None: a model handed in (dfbench.evaluate), not read from a file
    weights_sha256: str
    threshold: float
    card: Card | None


def train_detector(name: str, dataset: str, image_size: int, out: Path, config: TrainConfig = TrainConfig(),
                   data_params: dict[str, Any] | None = None, device: torch.device | None = None,
                   **detector_kwargs) -> Card:
    """Train detector ``name`` from scratch on ``dataset`` and write its checkpoint to ``out``.

    With ``config.temperature`` > 1 this is defensive distillation (Papernot et al. 2016): a
    teacher is trained at that temperature, then the saved student on the teacher's soft labels.
    An image detector on a video dataset trains on clip scores averaged over frames (PerFrame).
    Training runs on ``device`` (default CPU); the checkpoint is written from CPU tensors.
    """
    data = create_dataset(dataset, image_size=image_size, **(data_params or {}))
    log.info("training %s on %s (%d train / %d val samples)%s", name, dataset, len(data["train"]), len(data["val"]),
             f", {describe_training(config)}" if describe_training(config) else "")

    def fresh(seed: int = config.seed) -> Detector:
        torch.manual_seed(seed)
        return for_modality(create_detector(name, input_size=(image_size, image_size), **detector_kwargs),
                            data.modality, name).to(device or "cpu")

    fingerprint = detector_fingerprint(create_detector(name, input_size=(image_size, image_size), **detector_kwargs),
                                       image_size, detector_kwargs)
    teacher = None
    if config.temperature > 1:
        teacher = fresh()
        fit(teacher, data.train_draw or data["train"], data["val"], config, rebuild=fresh)
    detector = fresh()
    result = fit(detector, data.train_draw or data["train"], data["val"], config, teacher=teacher, rebuild=fresh)
    card = save_checkpoint(detector.inner if isinstance(detector, PerFrame) else detector, Path(out), {
        "detector": name, "dataset": dataset, "dataset_fingerprint": data.fingerprint,
        "input_size": (image_size, image_size), "seed": config.seed, "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch, "threshold": result.threshold, "val": result.val,
        "restarts": result.restarts,
        "training": describe_training(config), "code_fingerprint": fingerprint,
    })
    log.debug("%s: val acc %.3f auc %.3f after %d epochs -> %s", name, result.val["acc"], result.val["auc"],
             result.epochs_run, out)
    return card


def detector_fingerprint(detector: Detector, image_size: int, detector_kwargs: dict[str, Any]) -> str:
    """The code fingerprint a checkpoint's card records: the detector's modules and its arguments."""
    return code_fingerprint(detector, {"input_size": [image_size, image_size], **detector_kwargs})


def _stale(name: str, path: Path, data_fingerprint: str | None, code: str) -> bool:
    """Whether the cached checkpoint at ``path`` was made from other data or by other code (its
    card says); each reason is logged in one line. A checkpoint without a card is taken as it is."""
    card = read_card(path)
    if card is None:
        return False
    if data_fingerprint is not None and card.dataset_fingerprint != data_fingerprint:
        log.warning("%s: cached checkpoint %s was trained on other data (the dataset changed); training again",
                    name, path)
        return True
    if card.code_fingerprint != code:
        why = (f"by other code or arguments (fingerprint {card.code_fingerprint[:12]} -> {code[:12]})"
               if card.code_fingerprint else "before code fingerprints were recorded")
        log.warning("%s: cached checkpoint %s was made %s; training again", name, path, why)
        return True
    return False


def dataset_label(dataset: str, data_params: dict[str, Any] | None) -> str:
    """The dataset's name in checkpoint file names; its parameters (a root, crop settings) hashed in."""
    if not data_params:
        return dataset
    return f"{dataset}-{hashlib.sha256(json.dumps(data_params, sort_keys=True).encode()).hexdigest()[:8]}"


TRAINING_KEYS = {"adv", "adv_eps", "adv_ratio", "adv_steps", "temperature", "epochs"}


def training_config(training: dict[str, Any] | None, seed: int) -> TrainConfig:
    """A TrainConfig from a grid's ``training = {...}`` table (keys as TrainConfig's fields)."""
    training = dict(training or {})
    unknown = sorted(set(training) - TRAINING_KEYS)
    if unknown:
        raise ValueError(f"unknown training key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(TRAINING_KEYS))}")
    if "adv" not in training and {"adv_eps", "adv_ratio", "adv_steps"} & set(training):
        raise ValueError("adv_eps, adv_ratio and adv_steps need adv = \"fgsm\" or \"pgd\"")
    for key, kind in (("adv_eps", float), ("adv_ratio", float), ("temperature", float), ("adv_steps", int),
                      ("epochs", int)):  # 50 and 50.0 must name the same checkpoint
        if key in training:
            value = training[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or kind is int and value != int(value):
                raise ValueError(f"training {key} must be {'an integer' if kind is int else 'a number'}, got {value!r}")
            training[key] = kind(value)
    return TrainConfig(seed=seed, **training)


def describe_training(config: TrainConfig) -> str:
    """``pgd-at(eps=0.0314, ratio=0.5, steps=7)``, ``distilled(T=20)``, or '' for plain training."""
    parts = []
    if config.adv:
        steps = f", steps={config.adv_steps}" if config.adv == "pgd" else ""
        parts.append(f"{config.adv}-at(eps={config.adv_eps:.4g}, ratio={config.adv_ratio:g}{steps})")
    if config.temperature > 1:
        parts.append(f"distilled(T={config.temperature:g})")
    return " + ".join(parts)


def checkpoint_tag(detector_kwargs: dict[str, Any], config: TrainConfig) -> str:
    """The cache-name tag of a checkpoint: readable training name plus a hash of what changes it."""
    plain = TrainConfig(seed=config.seed)
    changed = {k: v for k, v in asdict(config).items() if v != getattr(plain, k)}
    if not detector_kwargs and not changed:
        return ""
    payload = [detector_kwargs, changed] if changed else detector_kwargs  # plain training: the tag it always had
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:8]
    kind = ("distill" if config.temperature > 1 else "") + (f"{config.adv}at" if config.adv else "")
    return f"{kind}-{digest}" if kind else digest


def checkpoint_location(name: str, dataset: str, image_size: int, cache_dir: Path, seed: int = 0,
                        weights: Path | None = None, training: dict[str, Any] | None = None,
                        data_params: dict[str, Any] | None = None, code: str = "", **detector_kwargs) -> Path:
    """Where :func:`trained_detector` finds (or trains into) these weights: ``weights``, or the cache path."""
    if weights is not None:
        return Path(weights)
    tag = checkpoint_tag({**detector_kwargs, **({"code": code} if code else {})}, training_config(training, seed))
    return cache_path(cache_dir, name, dataset_label(dataset, data_params), image_size, seed, tag)


def trained_detector(name: str, dataset: str, image_size: int, cache_dir: Path, seed: int = 0,
                     weights: Path | None = None, training: dict[str, Any] | None = None,
                     data_params: dict[str, Any] | None = None, modality: str = "image",
                     device: torch.device | None = None, data_fingerprint: str | None = None,
                     code: str = "", **detector_kwargs) -> Trained:
    """The detector with trained weights: ``weights`` if given, else the cache, training on a miss.

    ``training`` selects a training-time defense (adversarial training, distillation): see
    :func:`training_config`; it and the detector parameters get their own cached checkpoint.
    ``data_params`` are the dataset's own parameters (a data root, frames, crop settings);
    ``modality`` is the dataset's, so an image detector scores video clips frame by frame.
    A detector trained here trains on ``device``; the returned one is on the CPU. A cached
    checkpoint whose card names another ``data_fingerprint`` (the files under a data root
    changed since) is trained again, so old weights never meet a reshuffled test split; so is
    one made by other code or arguments (:func:`~dfbench.detectors.fingerprint.code_fingerprint`).
    ``code`` (a detector file's sha256) joins the cache tag: an edited file trains anew.
    """
    config = training_config(training, seed)
    path = checkpoint_location(name, dataset, image_size, cache_dir, seed, weights, training, data_params, code,
                               **detector_kwargs)
    inner = create_detector(name, input_size=(image_size, image_size), **detector_kwargs)
    if weights is None and inner.pretrained_from is not None:  # its weights came with it: nothing to train
        if training:
            raise ConfigError(f"{name} comes with its own weights ({inner.pretrained_from}): dfbench does not "
                              f"train it, so it takes no training recipe (got {training})")
        detector = for_modality(inner, modality, name)
        return Trained(detector.eval(), inner.pretrained_from, folder_digest(inner.pretrained_from),
                       detector.threshold, None)
    stale = weights is None and path.exists() and _stale(name, path, data_fingerprint,
                                                         detector_fingerprint(inner, image_size, detector_kwargs))
    if weights is None and (stale or not path.exists()):
        claim_cache(cache_dir)
        train_detector(name, dataset, image_size, path, config, data_params=data_params, device=device,
                       **detector_kwargs)
    digest = load_weights(inner, path)
    detector = for_modality(inner, modality, name)
    card = read_card(path)
    threshold = card.threshold if card is not None else 0.5
    detector.threshold = threshold
    return Trained(detector.eval(), path, digest, threshold, card)


def train_into_cache(name: str, dataset: str, image_size: int, cache_dir: Path, seed: int = 0,
                     training: dict[str, Any] | None = None, out: Path | None = None) -> tuple[Card, Path]:
    """Train detector ``name`` with the ``training`` recipe (a grid's ``training = {...}`` keys)
    into ``out``, or into the cache path a grid with that recipe selects. Returns its card and path."""
    try:
        config = training_config(training, seed)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None
    if out is None:
        claim_cache(cache_dir)
    path = out or cache_path(cache_dir, name, dataset, image_size, seed, checkpoint_tag({}, config))
    return train_detector(name, dataset, image_size, path, config), path


def load_detector(name: str | Path, weights: str | Path | None = None,
                  input_size: int | tuple[int, int] | None = None, threshold: float | None = None,
                  fake_labels: list[str] | None = None, real_label: str | None = None, **params: Any) -> Detector:
    """Registered detector ``name`` with ``weights`` from disk (its own checkpoint layout for the
    public detectors: ``deepfakebench_xception``, ``sbi_efficientnet_b4``, ...), in eval mode.
    A folder (or ``hf:folder``) is a Hugging Face classifier saved with ``save_pretrained``: its
    labels give its polarity unless ``fake_labels`` / ``real_label`` say it (detectors/hf). ``params``
    go to the registered detector's factory.

    The threshold is ``threshold`` when given, else the card's when the weights have one, else 0.5
    (the public projects' own decision: argmax, or a sigmoid at 0.5). ``input_size``: the side (or
    (H, W)) it is fed; a public detector defaults to its project's.
    """
    size = (input_size, input_size) if isinstance(input_size, int) else input_size
    folder = str(name).removeprefix(HF_PREFIX)
    if str(name).startswith(HF_PREFIX) or (str(name) not in detectors and Path(folder).is_dir()):
        if weights is not None or params:
            raise ConfigError(f"{folder} is a Hugging Face folder: its weights and conventions are in it "
                              f"(weights= and {', '.join(params) or 'parameters'} are for registered detectors)")
        hf = load_huggingface(folder, fake_labels, real_label, tuple(size) if size else None)  # type: ignore[arg-type]
        hf.threshold = float(threshold) if threshold is not None else 0.5
        return hf
    if fake_labels is not None or real_label is not None:
        raise ConfigError("fake_labels / real_label are for Hugging Face classifier folders")
    name = str(name)
    detector = create_detector(name, **({"input_size": tuple(size)} if size is not None else {}), **params)
    card = None
    if weights is not None:
        load_weights(detector, Path(weights))
        card = read_card(Path(weights))
    detector.threshold = float(threshold) if threshold is not None else card.threshold if card is not None else 0.5
    return detector.eval()
