"""JPEG compression with the real codec at inference; BPDA (identity) for adaptive attacks.

Dziugaite, Ghahramani & Roy 2016; Das et al. 2017; broken by BPDA in Athalye, Carlini &
Wagner, ICML 2018. Shape: ``(N, 3, H, W)`` in [0, 1] -> same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torchvision.io import decode_jpeg, encode_jpeg

from .base import Defense, GradientPath, bpda, check_number, no_gradient, register_defense


def jpeg_roundtrip(x: Tensor, qualities: Sequence[float]) -> Tensor:
    """Each image of ``x`` ``(N, 3, H, W)`` in [0, 1] as 8-bit pixels through libjpeg at its quality
    and back (no gradient; the callers choose the gradient path)."""
    pixels = (x.detach().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
    decoded = [decode_jpeg(encode_jpeg(p, quality=int(q))) for p, q in zip(pixels, qualities)]
    return torch.stack(decoded).to(x.device, x.dtype) / 255


class Jpeg(Defense):
    """JPEG at ``quality`` (1-100) through torchvision's libjpeg codec, at inference."""

    gradient_path = GradientPath.BPDA

    def __init__(self, quality: int = 75) -> None:
        super().__init__()
        self.quality = check_number(quality, "quality", 1, 100, integer=True)

    def params(self) -> dict[str, Any]:
        return {"quality": self.quality}

    def _codec(self, x: Tensor) -> Tensor:
        return jpeg_roundtrip(x, [self.quality] * len(x))

    def transform(self, x: Tensor) -> Tensor:
        return no_gradient(x, self._codec(x))

    def transform_for_grad(self, x: Tensor) -> Tensor:
        return bpda(x, self._codec(x))


@register_defense("jpeg")
def jpeg(**params) -> Jpeg:
    return Jpeg(**params)
