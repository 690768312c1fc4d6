"""Random resizing and padding; randomized, so adaptive attacks use EOT over its draws.

Xie et al., "Mitigating Adversarial Effects Through Randomization", ICLR 2018. Shape:
``(N, 3, H, W)`` -> same.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import Defense, GradientPath, check_number, register_defense


class RandomResizePad(Defense):
    """Resize to a random side in [H, ``scale`` * H], pad randomly to ``scale`` * H, resize back.

    Frames of a clip would be moved independently, so it takes images only.
    """

    modalities = ("image",)
    gradient_path = GradientPath.EOT

    def __init__(self, scale: float = 1.15) -> None:
        super().__init__()
        self.scale = check_number(scale, "scale", 1.0, 2.0)
        if self.scale == 1.0:
            raise ValueError("scale must be > 1")

    def params(self) -> dict[str, Any]:
        return {"scale": self.scale}

    def transform(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        big_h, big_w = round(h * self.scale), round(w * self.scale)
        new_h = int(torch.randint(h, big_h + 1, ()).item())
        new_w = round(new_h * w / h)
        resized = F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False)
        top = int(torch.randint(0, big_h - new_h + 1, ()).item())
        left = int(torch.randint(0, max(big_w - new_w, 0) + 1, ()).item())
        padded = F.pad(resized, (left, max(big_w - new_w - left, 0), top, big_h - new_h - top))
        return F.interpolate(padded, size=(h, w), mode="bilinear", align_corners=False)


@register_defense("random_resize_pad")
def random_resize_pad(**params) -> RandomResizePad:
    return RandomResizePad(**params)
