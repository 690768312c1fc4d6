"""A platform's downscale: each image stored at ``scale`` times its side (drawn per image, 8-bit),
then brought back to the detector's input size as its loader would. Differentiable (the rounding
by BPDA); EOT over the scale. Shape: ``(N, 3, H, W)`` in [0, 1] -> same.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..defenses.base import GradientPath, bpda
from .base import Channel, register_channel, value_range

MIN_SIDE = 8  # pixels: a stored side is never smaller (a tiny scale on a small input is clamped to it)


class Resize(Channel):
    """Antialiased bilinear downscale by ``scale`` (0-1], 8-bit, then bilinear back up."""

    gradient_path = GradientPath.ITSELF
    registered_name = "resize"

    def __init__(self, scale: float | list[float] = 0.5) -> None:
        super().__init__()
        lo, hi = value_range(scale, "scale", 0.0, 1.0)
        if lo <= 0:
            raise ValueError(f"scale must be > 0, got {scale!r}")
        self.ranges["scale"] = (lo, hi)

    def _resize(self, x: Tensor, grad: bool) -> Tensor:
        h, w = x.shape[-2:]
        sides = [(max(round(h * s), MIN_SIDE), max(round(w * s), MIN_SIDE)) for s in self.draw("scale", len(x))]
        out = torch.empty_like(x)
        for size in set(sides):  # one resize per stored size drawn, not per image
            index = torch.tensor([i for i, s in enumerate(sides) if s == size], device=x.device)
            small = F.interpolate(x[index], size=size, mode="bilinear", antialias=True, align_corners=False)
            stored = torch.round(small.clamp(0, 1) * 255) / 255
            small = bpda(small, stored) if grad else stored
            out = out.index_copy(0, index, F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False))
        return out

    def transform(self, x: Tensor) -> Tensor:
        return self._resize(x.detach(), grad=False)

    def transform_for_grad(self, x: Tensor) -> Tensor:
        return self._resize(x, grad=True)


@register_channel("resize")
def resize(**params) -> Resize:
    return Resize(**params)
