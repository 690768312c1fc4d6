"""Bit-depth reduction (feature squeezing); BPDA (identity) for adaptive attacks.

Xu, Evans & Qi, "Feature Squeezing", NDSS 2018. Shape: ``(N, 3, H, W)`` -> same.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .base import Defense, GradientPath, bpda, check_number, register_defense


class BitDepth(Defense):
    """Each channel quantized to ``bits`` bits (1-8)."""

    gradient_path = GradientPath.BPDA

    def __init__(self, bits: int = 4) -> None:
        super().__init__()
        self.bits = check_number(bits, "bits", 1, 8, integer=True)

    def params(self) -> dict[str, Any]:
        return {"bits": self.bits}

    def _squeeze(self, x: Tensor) -> Tensor:
        levels = 2 ** self.bits - 1
        return torch.round(x * levels) / levels  # torch.round's gradient is zero

    def transform(self, x: Tensor) -> Tensor:
        return self._squeeze(x)

    def transform_for_grad(self, x: Tensor) -> Tensor:
        return bpda(x, self._squeeze(x))


@register_defense("bit_depth")
def bit_depth(**params) -> BitDepth:
    return BitDepth(**params)
