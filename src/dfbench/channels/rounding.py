"""8-bit rounding: the first step of every channel (a file stores 8-bit pixels).

Shape: ``(N, 3, H, W)`` in [0, 1] -> same, on the 1/255 grid.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..defenses.base import GradientPath, bpda
from .base import Channel, register_channel


def to_8bit(x: Tensor) -> Tensor:
    """``x`` clamped to [0, 1] and rounded to the nearest of the 256 levels a file can hold."""
    return torch.round(x.detach().clamp(0, 1) * 255) / 255


class Rounding(Channel):
    """Every pixel rounded to the nearest 8-bit level; BPDA (identity) for channel-aware attacks."""

    gradient_path = GradientPath.BPDA
    registered_name = "8bit"

    def transform(self, x: Tensor) -> Tensor:
        return to_8bit(x)

    def transform_for_grad(self, x: Tensor) -> Tensor:
        return bpda(x, to_8bit(x))


@register_channel("8bit")
def rounding() -> Rounding:
    return Rounding()
