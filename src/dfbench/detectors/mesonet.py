"""MesoNet: Meso4 and MesoInception4 (Afchar et al., "MesoNet: a Compact Facial Video Forgery
Detection Network", WIFS 2018), the FaceForensics++ baselines at 256x256.

Layers as in the paper and its Keras code. The last pooling is adaptive (max-pool to 8x8,
which at 256x256 is exactly the paper's 4x4 max-pool), so any input size works.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import Detector, register_detector


def _block(c_in: int, c_out: int, k: int, pool: nn.Module) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, padding=k // 2), nn.ReLU(inplace=True), nn.BatchNorm2d(c_out), pool)


class Inception(nn.Module):
    """The paper's inception module: 1x1 | 1x1-3x3 | 1x1-3x3 (dilation 2) | 1x1-3x3 (dilation 3)."""

    def __init__(self, c_in: int, a: int, b: int, c: int, d: int) -> None:
        super().__init__()
        self.branches = nn.ModuleList([
            nn.Conv2d(c_in, a, 1),
            nn.Sequential(nn.Conv2d(c_in, b, 1), nn.ReLU(inplace=True), nn.Conv2d(b, b, 3, padding=1)),
            nn.Sequential(nn.Conv2d(c_in, c, 1), nn.ReLU(inplace=True), nn.Conv2d(c, c, 3, padding=2, dilation=2)),
            nn.Sequential(nn.Conv2d(c_in, d, 1), nn.ReLU(inplace=True), nn.Conv2d(d, d, 3, padding=3, dilation=3)),
        ])
        self.out_channels = a + b + c + d

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(torch.cat([branch(x) for branch in self.branches], dim=1))


class MesoNet(Detector):
    """Feature blocks -> 16 x 8 x 8 -> dropout, FC 16, LeakyReLU(0.1), dropout, FC 1 -> two logits.

    Shape: ``(N, 3, H, W)`` in [0, 1] -> ``(N, 2)``. Input scaled to [0, 1] as in the paper.
    """

    def __init__(self, features: nn.Module, input_size: tuple[int, int] = (256, 256)) -> None:
        super().__init__(input_size, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
        self.features = features
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(16 * 8 * 8, 16), nn.LeakyReLU(0.1),
                                  nn.Dropout(0.5), nn.Linear(16, 1))

    def classify(self, z: Tensor) -> Tensor:
        return self.two_logits(self.head(self.features(z)))


@register_detector("meso4")
def meso4(input_size: tuple[int, int] = (256, 256)) -> MesoNet:
    features = nn.Sequential(
        _block(3, 8, 3, nn.MaxPool2d(2)), _block(8, 8, 5, nn.MaxPool2d(2)),
        _block(8, 16, 5, nn.MaxPool2d(2)), _block(16, 16, 5, nn.AdaptiveMaxPool2d(8)))
    return MesoNet(features, input_size)


@register_detector("mesoinception4")
def mesoinception4(input_size: tuple[int, int] = (256, 256)) -> MesoNet:
    i1, i2 = Inception(3, 1, 4, 4, 2), Inception(11, 2, 4, 4, 2)
    features = nn.Sequential(
        i1, nn.BatchNorm2d(i1.out_channels), nn.MaxPool2d(2),
        i2, nn.BatchNorm2d(i2.out_channels), nn.MaxPool2d(2),
        _block(i2.out_channels, 16, 5, nn.MaxPool2d(2)), _block(16, 16, 5, nn.AdaptiveMaxPool2d(8)))
    return MesoNet(features, input_size)
