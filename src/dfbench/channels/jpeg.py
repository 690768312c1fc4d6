"""JPEG re-encoding at a quality drawn per image, through torchvision's libjpeg; BPDA for
channel-aware attacks, EOT over the quality. Shape: ``(N, 3, H, W)`` in [0, 1] -> same.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.io import decode_jpeg, encode_jpeg

from ..defenses.base import GradientPath, bpda
from .base import Channel, register_channel, value_range


class JpegChannel(Channel):
    """A platform's JPEG re-encode at ``quality`` (1-100, or a range ``[lo, hi]`` drawn per image)."""

    gradient_path = GradientPath.BPDA
    registered_name = "jpeg"

    def __init__(self, quality: int | list[int] = 75) -> None:
        super().__init__()
        self.ranges["quality"] = value_range(quality, "quality", 1, 100, integer=True)

    def _codec(self, x: Tensor) -> Tensor:
        pixels = (x.detach().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
        qualities = self.draw("quality", len(pixels))
        decoded = [decode_jpeg(encode_jpeg(p, quality=int(q))) for p, q in zip(pixels, qualities)]
        return torch.stack(decoded).to(x.device, x.dtype) / 255

    def transform(self, x: Tensor) -> Tensor:
        return self._codec(x)

    def transform_for_grad(self, x: Tensor) -> Tensor:
        return bpda(x, self._codec(x))


@register_channel("jpeg")
def jpeg(**params) -> JpegChannel:
    return JpegChannel(**params)
