"""Training recipes and checkpoints (beside the Detector interface, not inside it)."""

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
from .trained import train_detector, train_into_cache, trained_detector

__all__ = ["Card", "TrainConfig", "TrainResult", "cache_path", "default_cache_dir", "find_weights", "fit",
           "load_weights", "predict_scores", "read_card", "save_checkpoint", "sha256_file", "train_detector",
           "train_into_cache", "trained_detector", "verify_weights"]
