"""A public project's detector: its architecture under the key names of its checkpoints, and
its conventions from its :class:`~.layout.Layout` (normalization, polarity, head)."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from ...errors import ConfigError
from ..base import Detector
from .layout import Head, Layout


class PublicDetector(Detector):
    """Subclasses build the architecture in ``__init__`` and return its raw output in :meth:`raw`.

    Shape: ``(N, 3, H, W)`` in [0, 1] -> ``(N, 2)`` logits, class 1 = fake, whatever the
    project's own head and polarity.
    """

    layout: ClassVar[Layout]

    def __init__(self, input_size: tuple[int, int] | None = None) -> None:
        size = input_size or (self.layout.input_size, self.layout.input_size)
        if self.layout.fixed_size and tuple(size) != (self.layout.input_size,) * 2:
            raise ConfigError(f"{self.layout.name} runs at {self.layout.input_size} px only (its network is sized to "
                              f"it), not {size[0]}x{size[1]}: set image_size = {self.layout.input_size}")
        super().__init__(size, self.layout.mean, self.layout.std)

    def raw(self, z: Tensor) -> Tensor:
        """The project's own output on normalized input: ``(N, 2)`` logits or ``(N, 1)`` one logit."""
        raise NotImplementedError

    def classify(self, z: Tensor) -> Tensor:
        out = self.raw(z)
        two = self.two_logits(out) if self.layout.head == Head.ONE_LOGIT else out
        return two if self.layout.fake_index == 1 else two.flip(1)
