"""Median smoothing (feature squeezing); differentiable almost everywhere (the gradient
reaches the median pixel), so naive and adaptive attacks share its gradient.

Xu, Evans & Qi, "Feature Squeezing", NDSS 2018. Shape: ``(N, 3, H, W)`` -> same.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor

from .base import Defense, check_number, register_defense


class MedianFilter(Defense):
    """A ``size`` x ``size`` median filter (odd size 3-9), reflection padded."""

    def __init__(self, size: int = 3) -> None:
        super().__init__()
        self.size = int(check_number(size, "size", 3, 9, integer=True))
        if self.size % 2 == 0:
            raise ValueError(f"size must be odd, got {size}")

    def params(self) -> dict[str, Any]:
        return {"size": self.size}

    def transform(self, x: Tensor) -> Tensor:
        p = self.size // 2
        patches = F.pad(x, (p, p, p, p), mode="reflect").unfold(2, self.size, 1).unfold(3, self.size, 1)
        return patches.flatten(-2).median(dim=-1).values


@register_defense("median_filter")
def median_filter(**params) -> MedianFilter:
    return MedianFilter(**params)
