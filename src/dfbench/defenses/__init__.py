"""Defenses: wrappers that are themselves Detectors (base.py), one preprocessing defense per
file. Training-time defenses (adversarial training, distillation) produce weights instead:
see ``dfbench.train``."""

from . import bit_depth, gaussian_blur, jpeg, median_filter, random_resize_pad  # noqa: F401  (registration)
from .base import Defense, GradientPath, adaptive_is_naive, attack_view, chain_name, defend, defenses, register_defense
from .bit_depth import BitDepth
from .gaussian_blur import GaussianBlur
from .jpeg import Jpeg
from .median_filter import MedianFilter
from .random_resize_pad import RandomResizePad

__all__ = ["BitDepth", "Defense", "GaussianBlur", "GradientPath", "Jpeg", "MedianFilter", "RandomResizePad",
           "adaptive_is_naive", "attack_view",
           "chain_name", "create_defense", "defend", "defenses", "register_defense"]


def create_defense(name: str, **params) -> Defense:
    """An unattached defense layer by registered name (attach it with :func:`defend`)."""
    return defenses.create(name, **params)
