"""A tiny registered detector for fast tests (timm's `test_*` convention)."""

from __future__ import annotations

from torch import Tensor, nn

from .base import Detector, register_detector


class TinyCNN(Detector):
    """Two strided convs -> global average pool -> two logits. About 1.4k parameters.

    Shape: ``(N, 3, H, W)`` in [0, 1] -> ``(N, 2)``.
    """

    def __init__(self, input_size: tuple[int, int] = (32, 32), width: int = 8) -> None:
        super().__init__(input_size)
        self.net = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(2 * width, 2),
        )

    def classify(self, z: Tensor) -> Tensor:
        return self.net(z)


@register_detector("test_tiny_cnn")
def test_tiny_cnn(input_size: tuple[int, int] = (32, 32), **kwargs) -> TinyCNN:
    return TinyCNN(input_size=input_size, **kwargs)
