"""Public detectors loaded from their own checkpoints, one project per file; layouts in layout.py."""

from . import deepfakebench, ffpp, sbi, selimsef  # noqa: F401  (registration)
from .layout import LAYOUTS, Layout

__all__ = ["LAYOUTS", "Layout"]
