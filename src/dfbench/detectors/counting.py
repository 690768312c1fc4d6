"""A detector wrapper that counts the work done through it (for tests and benchmarks)."""

from __future__ import annotations

import torch
from torch import Tensor

from .base import Detector


class Counting(Detector):
    """The same detector, counting samples passed forward and those with a gradient path.

    ``forward_samples`` counts every sample through :meth:`forward`; ``grad_samples`` those
    forwarded while autograd was recording (each is followed by a backward pass in an
    attack). Shape: like the wrapped detector.
    """

    def __init__(self, inner: Detector) -> None:
        super().__init__(inner.input_size)
        self.inner = inner
        self.threshold, self.modality = inner.threshold, inner.modality
        self.forward_samples = 0
        self.grad_samples = 0
        self.training = inner.training  # this module only: never change the inner mode

    def forward(self, x: Tensor) -> Tensor:
        self.forward_samples += len(x)
        if torch.is_grad_enabled() and x.requires_grad:
            self.grad_samples += len(x)
        return self.inner(x)
