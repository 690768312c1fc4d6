"""custom_cnn: the 4-conv + 2-FC detector of Dhese et al. 2023.

"Mitigating Adversarial Attacks in Deepfake Detection" (arXiv 2302.11704), trained on
DFDC and the 140k real-vs-fake faces at 256x256 with a binary (sigmoid) head. The paper
gives the layer counts, not the widths; the widths, batch norm and the adaptive pooling
(so that any input size works) are ours.
"""

from __future__ import annotations

from torch import Tensor, nn

from .base import Detector, register_detector


def _conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class CustomCNN(Detector):
    """Four conv blocks (conv-BN-ReLU-maxpool) -> FC(hidden) -> FC(1) -> two logits.

    Shape: ``(N, 3, H, W)`` in [0, 1] -> ``(N, 2)``.
    """

    def __init__(self, input_size: tuple[int, int] = (256, 256), widths: tuple[int, ...] = (32, 64, 128, 128),
                 hidden: int = 128, dropout: float = 0.3) -> None:
        super().__init__(input_size)
        if len(widths) != 4:
            raise ValueError(f"custom_cnn has 4 conv layers, got widths {widths}")
        chans = (3, *widths)
        self.features = nn.Sequential(*(_conv(a, b) for a, b in zip(chans[:-1], chans[1:])))
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(widths[-1] * 16, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, 1),
        )

    def penultimate(self, z: Tensor) -> Tensor:
        """The hidden layer that the last linear readout (``head[-1]``, one logit) reads: ``(N, hidden)``."""
        return self.head[:-1](self.pool(self.features(z)))

    def classify(self, z: Tensor) -> Tensor:
        return self.two_logits(self.head[-1](self.penultimate(z)))


@register_detector("custom_cnn")
def custom_cnn(input_size: tuple[int, int] = (256, 256), **kwargs) -> CustomCNN:
    return CustomCNN(input_size=input_size, **kwargs)
