"""Public detectors loaded from their own checkpoints, one project per file; layouts in layout.py."""

from . import (  # noqa: F401  (registration)
    cnndetection,
    deepfakebench,
    deepfakebench_f3net,
    deepfakebench_meso,
    ffpp,
    npr,
    sbi,
    selimsef,
    univfd,
)
from .layout import LAYOUTS, Layout

__all__ = ["LAYOUTS", "Layout"]
