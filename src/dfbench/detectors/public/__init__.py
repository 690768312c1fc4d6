"""Public detectors loaded from their own checkpoints, one project per file; layouts in layout.py."""

from . import cnndetection, deepfakebench, deepfakebench_meso, ffpp, npr, sbi, selimsef, univfd  # noqa: F401
from .layout import LAYOUTS, Layout

__all__ = ["LAYOUTS", "Layout"]
