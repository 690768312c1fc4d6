"""Training recipes and checkpoints (beside the Detector interface, not inside it).

The package is callable: ``dfbench.train(model, dataset="mini", epochs=20, adv="pgd")`` trains any
architecture with dfbench's recipe (:func:`train_model`).
"""

import sys
import types

from .checkpoint import (
                         Card,
                         cache_path,
                         default_cache_dir,
                         find_weights,
                         load_weights,
                         read_card,
                         save_checkpoint,
                         sha256_file,
                         verify_weights,
)
from .fit import TrainConfig, TrainResult, fit, predict_scores
from .model import train_model
from .trained import load_detector, train_detector, train_into_cache, trained_detector

__all__ = ["Card", "TrainConfig", "TrainResult", "cache_path", "default_cache_dir", "find_weights", "fit",
           "load_weights", "predict_scores", "read_card", "save_checkpoint", "sha256_file", "train_detector",
           "train_into_cache", "train_model", "trained_detector", "load_detector", "verify_weights"]


class _CallableModule(types.ModuleType):
    """``dfbench.train(model, ...)`` is :func:`train_model`, while ``dfbench.train`` stays this package."""

    def __call__(self, model, **kwargs):
        return train_model(model, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
