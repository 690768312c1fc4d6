"""A tiny registered detector for fast tests (timm's `test_*` convention)."""

from __future__ import annotations

from torch import Tensor, nn

from ._lstm import AttackableLSTM
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

    def penultimate(self, z: Tensor) -> Tensor:
        """The pooled features its last linear layer reads: ``(N, 2 * width)``."""
        return self.net[:-1](z)

    def classify(self, z: Tensor) -> Tensor:
        return self.net[-1](self.penultimate(z))


@register_detector("test_tiny_cnn")
def test_tiny_cnn(input_size: tuple[int, int] = (32, 32), **kwargs) -> TinyCNN:
    return TinyCNN(input_size=input_size, **kwargs)


class TinyVideo(Detector):
    """TinyCNN features per frame -> LSTM(8) -> two logits, for fast video tests.

    Shape: ``(N, T, 3, H, W)`` in [0, 1] -> ``(N, 2)``.
    """

    modality = "video"

    def __init__(self, input_size: tuple[int, int] = (32, 32), width: int = 8) -> None:
        super().__init__(input_size)
        self.frames = TinyCNN(input_size, width).net[:-1]  # up to the pooled features (2 * width)
        self.lstm = AttackableLSTM(2 * width, 8, batch_first=True)
        self.head = nn.Linear(8, 2)

    def classify(self, z: Tensor) -> Tensor:
        n, t = z.shape[:2]
        _, (h, _) = self.lstm(self.frames(z.flatten(0, 1)).view(n, t, -1))
        return self.head(h[-1])


@register_detector("test_tiny_video")
def test_tiny_video(input_size: tuple[int, int] = (32, 32), **kwargs) -> TinyVideo:
    return TinyVideo(input_size=input_size, **kwargs)
