"""Detectors: one model family per file, registered by name (see base.py)."""

from . import cnn_lstm, custom_cnn, hybrid_cnn_lstm, mesonet, mtcnn_inception, resnext_lstm, timm_models, tiny  # noqa: F401  (registration)
from .base import Detector, detectors, register_detector

__all__ = ["Detector", "detectors", "register_detector", "create_detector"]


def create_detector(name: str, **kwargs) -> Detector:
    return detectors.create(name, **kwargs)
