"""Mixed precision: a detector whose forward and backward run under ``torch.autocast``.

Only the network runs in reduced precision. Its logits come back as float32, and the input
stays float32, so the attack's own arithmetic (steps, projection onto the budget, clipping to
[0, 1]) and the input gradient it reads are float32: precision is spent where it is cheap and
kept where an epsilon of 1/255 must mean exactly that. bfloat16 is the CPU choice; float16
(with its narrower range) is the usual one on CUDA.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import Detector

PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}


class Autocast(Detector):
    """``inner`` under autocast at ``precision``; same input and output shapes, float32 logits."""

    def __init__(self, inner: Detector, precision: str) -> None:
        if PRECISIONS.get(precision) is None:
            raise ValueError(f"precision must be bfloat16 or float16 for autocast, got {precision!r}")
        super().__init__(inner.input_size)
        self.inner, self.precision, self.modality = inner, precision, inner.modality

    @property
    def threshold(self) -> float:  # type: ignore[override]
        return self.inner.threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        self.inner.threshold = value

    def forward(self, x: Tensor) -> Tensor:
        with torch.autocast(device_type=x.device.type, dtype=PRECISIONS[self.precision]):
            logits = self.inner(x)
        return logits.float()
