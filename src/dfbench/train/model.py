"""The training recipe behind `dfbench train`, on any architecture: ``dfbench.train(model, ...)``."""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

from torch import nn

from ..data import create_dataset
from ..detectors.base import Detector
from ..detectors.per_frame import PerFrame, for_modality
from ..detectors.wrapped import model_side, wrap
from ..device import resolve_device
from ..errors import ConfigError
from ..validate import parse_eps
from .checkpoint import save_checkpoint
from .fit import TrainResult, fit
from .trained import describe_training, training_config

log = logging.getLogger(__name__)


def train_model(model: nn.Module | Detector, *, dataset: str = "mini", image_size: int | None = None,
                mean: tuple[float, float, float] | None = None, std: tuple[float, float, float] | None = None,
                output: str = "logits", fake_index: int = 1, seed: int = 0, device: str = "auto",
                out: str | Path | None = None, data_root: str | Path | None = None,
                **training: Any) -> tuple[Detector, TrainResult]:
    """Train ``model`` in place with dfbench's recipe (Adam, class-balanced cross-entropy, light
    augmentation, early stopping on validation loss; docs/protocol.md) on ``dataset``'s train
    split, and calibrate its threshold on the validation split.

    ``training`` takes the keys of a grid's ``training = {...}``: ``epochs``, ``adv`` ("fgsm" |
    "pgd", adversarial training) with ``adv_eps``, ``adv_ratio``, ``adv_steps``, and
    ``temperature`` (defensive distillation: a copy of ``model`` is the teacher). A model that is
    not a Detector is wrapped with its conventions (see :func:`dfbench.wrap`). With ``out``, the
    weights and their card are written there (safetensors), ready for ``weights =`` in a grid.
    Returns the trained Detector (its ``threshold`` set) and the training result.
    """
    if "adv_eps" in training:  # "8/255", as in grid files
        training["adv_eps"] = parse_eps(training["adv_eps"], "adv_eps")
    config = training_config(training, seed)
    size = image_size or model_side(model, 64)
    data = create_dataset(dataset, image_size=int(size), **({"root": str(data_root)} if data_root else {}))
    detector = for_modality(wrap(model, input_size=int(size), mean=mean, std=std, output=output,
                                 fake_index=fake_index), data.modality, type(model).__name__)
    if not any(p.requires_grad for p in detector.parameters()):
        raise ConfigError(f"{type(model).__name__} has no trainable parameters")
    detector.to(resolve_device(device))
    teacher = None
    if config.temperature > 1:
        teacher = copy.deepcopy(detector)
        fit(teacher, data.train_draw or data["train"], data["val"], config)
    result = fit(detector, data.train_draw or data["train"], data["val"], config, teacher=teacher)
    detector.threshold = result.threshold
    if out is not None:
        inner = detector.inner if isinstance(detector, PerFrame) else detector
        save_checkpoint(inner.cpu(), Path(out), {
            "detector": type(model).__name__, "dataset": dataset, "dataset_fingerprint": data.fingerprint,
            "input_size": (int(size), int(size)), "seed": seed, "epochs_run": result.epochs_run,
            "best_epoch": result.best_epoch, "threshold": result.threshold, "val": result.val,
            "restarts": result.restarts,
            "training": describe_training(config)})
    log.info("%s: val acc %.3f auc %.3f after %d epochs", type(model).__name__, result.val["acc"],
             result.val["auc"], result.epochs_run)
    return detector.cpu().eval(), result
