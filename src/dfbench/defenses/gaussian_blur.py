"""Gaussian smoothing; differentiable, so naive and adaptive attacks share its gradient.

Shape: ``(N, 3, H, W)`` -> same.
"""

from __future__ import annotations

import math
from typing import Any

from torch import Tensor
from torchvision.transforms.v2.functional import gaussian_blur_image

from .base import Defense, check_number, register_defense


class GaussianBlur(Defense):
    """Gaussian smoothing with standard deviation ``sigma`` (0 < sigma <= 5 pixels)."""

    def __init__(self, sigma: float = 1.0) -> None:
        super().__init__()
        self.sigma = check_number(sigma, "sigma", 0, 5)
        if self.sigma == 0:
            raise ValueError("sigma must be > 0")

    def params(self) -> dict[str, Any]:
        return {"sigma": self.sigma}

    def transform(self, x: Tensor) -> Tensor:
        k = 2 * math.ceil(3 * self.sigma) + 1
        return gaussian_blur_image(x, kernel_size=[k, k], sigma=[self.sigma, self.sigma])


@register_defense("gaussian_blur")
def gaussian_blur(**params) -> GaussianBlur:
    return GaussianBlur(**params)
