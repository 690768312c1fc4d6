"""The defense wrapper: a Detector that transforms its input before an inner Detector.

Only the interface and the registry live here so far; the preprocessing defenses and
their adaptive (BPDA/EOT) gradient paths are future work.
"""

from __future__ import annotations

from torch import Tensor

from .._registry import Registry
from ..detectors.base import Detector


class Defense(Detector):
    """``forward(x) = inner(transform(x))``; composes in the order the input travels.

    Shape: as the inner detector's.
    """

    def __init__(self, inner: Detector) -> None:
        super().__init__(inner.input_size)
        self.inner = inner
        self.modality = inner.modality

    def transform(self, x: Tensor) -> Tensor:
        """What the defense does at inference."""
        raise NotImplementedError

    def transform_for_grad(self, x: Tensor) -> Tensor:
        """The gradient path an adaptive attack uses (BPDA / EOT); by default the transform."""
        return self.transform(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.inner(self.transform(x))

    def describe(self) -> str:
        return type(self).__name__

    def __str__(self) -> str:
        return f"{self.describe()} -> {self.inner}"


def defend(detector: Detector, *layers) -> Detector:
    """Wrap ``detector`` in defense factories, in reading order: ``defend(d, A, B)`` = A -> B -> d.

    Each layer is a callable ``inner -> Defense``.
    """
    for layer in reversed(layers):
        detector = layer(detector)
    return detector


defenses: Registry = Registry("defense", "dfbench.defenses")
register_defense = defenses.register
