"""hybrid_cnn_lstm model0/1/2 of Al-Dulaimi & Kurnaz 2024.

"A Hybrid CNN-LSTM Approach for Precision Deepfake Image Detection Based on Transfer
Learning", Electronics 13:1662. Five blocks of three convolutions with n = (16, 32, 32,
64, 128) filters of size s = (1, 3, 3, 6, 9); an LSTM after each block; max pooling after
blocks 2-5; FC 32 -> FC 1 -> sigmoid; 128x128 input; about 4.7M parameters at 128x128.
model0 uses simple blocks, model1 adds dropout 0.25, model2 adds residual connections
(first conv's output added to the last conv's, then ReLU).

Our reading of what the paper leaves open: the LSTM runs over the rows of each block's
feature map (:class:`RowLSTM`) and its output is added back to the map; batch norm after
each convolution, since we train from scratch rather than transfer pretrained weights.
"""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from ._row_lstm import RowLSTM
from .base import Detector, register_detector

FILTERS = (16, 32, 32, 64, 128)
KERNELS = (1, 3, 3, 6, 9)
Variant = Literal["simple", "dropout", "residual"]


def _conv_bn(c_in: int, c_out: int, k: int) -> nn.Sequential:
    """'Same'-padded conv + BN; even kernels (s = 6) pad one more pixel after than before."""
    before, after = (k - 1) // 2, k // 2
    return nn.Sequential(nn.ZeroPad2d((before, after, before, after)),
                         nn.Conv2d(c_in, c_out, k, bias=False), nn.BatchNorm2d(c_out))


class Block(nn.Module):
    """Three same-padded convolutions (simple, +dropout, or residual), then ReLU.

    Shape: ``(N, c_in, H, W)`` -> ``(N, c_out, H, W)``.
    """

    def __init__(self, c_in: int, c_out: int, k: int, variant: Variant, dropout: float) -> None:
        super().__init__()
        self.residual = variant == "residual"
        self.conv1 = _conv_bn(c_in, c_out, k)
        self.rest = nn.Sequential(nn.ReLU(inplace=True), _conv_bn(c_out, c_out, k),
                                  nn.ReLU(inplace=True), _conv_bn(c_out, c_out, k))
        self.act = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout2d(dropout) if variant == "dropout" else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        first = self.conv1(x)
        out = self.rest(first)
        if self.residual:
            out = out + first
        return self.dropout(self.act(out))


class HybridCNNLSTM(Detector):
    """Five conv blocks, each followed by a row LSTM; FC 32 -> 1 -> two logits.

    Shape: ``(N, 3, H, W)`` in [0, 1] with H and W divisible by 16 -> ``(N, 2)``.
    """

    def __init__(self, input_size: tuple[int, int] = (128, 128), variant: Variant = "simple",
                 dropout: float = 0.25) -> None:
        super().__init__(input_size)
        h, w = self.input_size
        if h % 16 or w % 16:
            raise ValueError(f"hybrid_cnn_lstm needs an input size divisible by 16, got {h}x{w}")
        lstm_dropout = dropout if variant == "dropout" else 0.0
        layers: list[nn.Module] = []
        c_in = 3
        for i, (c_out, k) in enumerate(zip(FILTERS, KERNELS)):
            layers += [Block(c_in, c_out, k, variant, dropout), RowLSTM(c_out, lstm_dropout)]
            if i >= 1:
                layers.append(nn.MaxPool2d(2))
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c_in * (h // 16) * (w // 16), 32),
                                  nn.ReLU(inplace=True), nn.Linear(32, 1))

    def classify(self, z: Tensor) -> Tensor:
        return self.two_logits(self.head(self.features(z)))


def _factory(variant: Variant):
    def make(input_size: tuple[int, int] = (128, 128), **kwargs) -> HybridCNNLSTM:
        return HybridCNNLSTM(input_size=input_size, variant=variant, **kwargs)

    make.__doc__ = f"hybrid_cnn_lstm with {variant} blocks."
    return make


_VARIANTS: tuple[Variant, ...] = ("simple", "dropout", "residual")
for _i, _variant in enumerate(_VARIANTS):
    register_detector(f"hybrid_cnn_lstm_model{_i}")(_factory(_variant))
