"""Meso4 (Afchar et al., "MesoNet: a Compact Facial Video Forgery Detection Network", WIFS 2018).

Four conv blocks (8, 8, 16, 16 channels; batch norm; max pooling) -> dropout -> dense 16 ->
two logits. The paper's last layer is a single sigmoid unit; dfbench detectors return two
logits, so the head here has two outputs. Shape: ``(N, 3, H, W)`` in [0, 1] -> ``(N, 2)``.
"""

from __future__ import annotations

from torch import Tensor, nn

from dfbench import Detector


def _block(c_in: int, c_out: int, kernel: int, pool: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2), nn.ReLU(), nn.BatchNorm2d(c_out),
                         nn.MaxPool2d(pool))


class Meso4(Detector):
    def __init__(self, input_size: tuple[int, int] = (64, 64)) -> None:
        super().__init__(input_size)
        self.features = nn.Sequential(_block(3, 8, 3, 2), _block(8, 8, 5, 2), _block(8, 16, 5, 2),
                                      _block(16, 16, 5, 4), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(16, 16), nn.LeakyReLU(0.1), nn.Dropout(0.5),
                                  nn.Linear(16, 2))

    def classify(self, z: Tensor) -> Tensor:
        return self.head(self.features(z))


def example_meso4(input_size: tuple[int, int] = (64, 64)) -> Meso4:
    """The entry point's factory: dfbench calls it with the grid's input size."""
    return Meso4(input_size)
