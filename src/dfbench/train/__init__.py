"""Training recipes and checkpoints (beside the Detector interface, not inside it)."""

from .checkpoint import Card, cache_path, load_weights, read_card, save_checkpoint, sha256_file
from .fit import TrainConfig, TrainResult, fit, predict_scores
from .trained import train_detector, trained_detector

__all__ = ["Card", "TrainConfig", "TrainResult", "cache_path", "fit", "load_weights", "predict_scores",
           "read_card", "save_checkpoint", "sha256_file", "train_detector", "trained_detector"]
