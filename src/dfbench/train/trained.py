"""Get a trained detector: from a weights file, from the cache, or by training it now."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from ..data import create_dataset
from ..detectors import Detector, create_detector
from .checkpoint import Card, cache_path, load_weights, read_card, save_checkpoint
from .fit import TrainConfig, fit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Trained:
    detector: Detector
    weights_path: Path
    weights_sha256: str
    threshold: float
    card: Card | None


def train_detector(name: str, dataset: str, image_size: int, out: Path, config: TrainConfig = TrainConfig(),
                   **detector_kwargs) -> Card:
    """Train detector ``name`` from scratch on ``dataset`` and write its checkpoint to ``out``."""
    torch.manual_seed(config.seed)
    detector = create_detector(name, input_size=(image_size, image_size), **detector_kwargs)
    data = create_dataset(dataset, image_size=image_size)
    log.info("training %s on %s (%d train / %d val images)", name, dataset, len(data["train"]), len(data["val"]))
    result = fit(detector, data.train_draw or data["train"], data["val"], config)
    card = save_checkpoint(detector, Path(out), {
        "detector": name, "dataset": dataset, "dataset_fingerprint": data.fingerprint,
        "input_size": (image_size, image_size), "seed": config.seed, "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch, "threshold": result.threshold, "val": result.val,
    })
    log.info("%s: val acc %.3f auc %.3f after %d epochs -> %s", name, result.val["acc"], result.val["auc"],
             result.epochs_run, out)
    return card


def trained_detector(name: str, dataset: str, image_size: int, cache_dir: Path, seed: int = 0,
                     weights: Path | None = None, **detector_kwargs) -> Trained:
    """The detector with trained weights: ``weights`` if given, else the cache, training on a miss."""
    # detector parameters change the model: they get their own cached checkpoint
    tag = hashlib.sha256(json.dumps(detector_kwargs, sort_keys=True).encode()).hexdigest()[:8] if detector_kwargs else ""
    path = Path(weights) if weights is not None else cache_path(cache_dir, name, dataset, image_size, seed, tag)
    if weights is None and not path.exists():
        train_detector(name, dataset, image_size, path, TrainConfig(seed=seed), **detector_kwargs)
    detector = create_detector(name, input_size=(image_size, image_size), **detector_kwargs)
    digest = load_weights(detector, path)
    card = read_card(path)
    threshold = card.threshold if card is not None else 0.5
    detector.threshold = threshold
    return Trained(detector.eval(), path, digest, threshold, card)
