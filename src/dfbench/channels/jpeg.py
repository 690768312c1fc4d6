"""JPEG re-encoding at a quality drawn per image, through torchvision's libjpeg; BPDA for
channel-aware attacks, EOT over the quality. Shape: ``(N, 3, H, W)`` in [0, 1] -> same.
"""

from __future__ import annotations

from torch import Tensor

from ..defenses.base import GradientPath, bpda
from ..defenses.jpeg import jpeg_roundtrip
from .base import Channel, register_channel, value_range


class JpegChannel(Channel):
    """A platform's JPEG re-encode at ``quality`` (1-100, or a range ``[lo, hi]`` drawn per image)."""

    gradient_path = GradientPath.BPDA
    registered_name = "jpeg"

    def __init__(self, quality: int | list[int] = 75) -> None:
        super().__init__()
        self.ranges["quality"] = value_range(quality, "quality", 1, 100, integer=True)

    def _codec(self, x: Tensor) -> Tensor:
        return jpeg_roundtrip(x, self.draw("quality", len(x)))

    def transform(self, x: Tensor) -> Tensor:
        return self._codec(x)

    def transform_for_grad(self, x: Tensor) -> Tensor:
        return bpda(x, self._codec(x))


@register_channel("jpeg")
def jpeg(**params) -> JpegChannel:
    return JpegChannel(**params)
