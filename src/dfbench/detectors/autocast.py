"""Mixed precision: a detector whose forward and backward run under ``torch.autocast``.

Only the network runs in reduced precision. Its logits come back as float32, and the input
stays float32, so the attack's own arithmetic (steps, projection onto the budget, clipping to
[0, 1]) and the input gradient it reads are float32: precision is spent where it is cheap and
kept where an epsilon of 1/255 must mean exactly that.

Only bfloat16 is offered (CPUs and Ampere-or-newer GPUs have it). float16 is refused: without
loss scaling its 5-bit exponent flushes small gradients to zero. A cross-entropy gradient of a
sample with a logit margin above about 17 is below e^-17, under float16's smallest number, so
that sample's input gradient is exactly zero. On the quick grid's custom_cnn, 1 of 64 test
samples lost its whole gradient under float16, and none did under float32 or bfloat16.
Attacks would stall on such samples, and robust accuracy would read too high.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import Detector

PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16}


class Autocast(Detector):
    """``inner`` under autocast at ``precision``; same input and output shapes, float32 logits."""

    def __init__(self, inner: Detector, precision: str) -> None:
        if PRECISIONS.get(precision) is None:
            raise ValueError(f"autocast precision must be bfloat16, got {precision!r}")
        super().__init__(inner.input_size)
        self.inner, self.precision, self.modality = inner, precision, inner.modality
        self.training = inner.training  # this module only: never change the inner mode

    @property
    def threshold(self) -> float:
        return self.inner.threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        self.inner.threshold = value

    def forward(self, x: Tensor) -> Tensor:
        with torch.autocast(device_type=x.device.type, dtype=PRECISIONS[self.precision]):
            logits = self.inner(x)
        return logits.float()
