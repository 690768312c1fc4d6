"""Detectors: one model family per file, registered by name (see base.py)."""

from . import cnn_lstm, custom_cnn, hybrid_cnn_lstm, mesonet, mtcnn_inception, public, resnext_lstm, timm_models, tiny  # noqa: F401  (registration)
from .base import Detector, detectors, register_detector
from .wrapped import Wrapped, require_detector, wrap

__all__ = ["Detector", "Wrapped", "create_detector", "detectors", "register_detector", "require_detector", "wrap"]


def create_detector(name: str, **kwargs) -> Detector:
    return detectors.create(name, **kwargs)
