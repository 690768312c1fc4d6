"""The defense wrapper: a Detector that transforms its input before an inner Detector.

Preprocessing defenses compose in the order the input travels::

    defended = defend(detector, Jpeg(quality=75), GaussianBlur(sigma=1.0))
    str(chain_name(defended))  # 'Jpeg(quality=75) -> GaussianBlur(sigma=1)'

Each defense declares two inputs to its inner detector: :meth:`Defense.transform`, what it
does at inference (a real JPEG codec, a rounding, a random resize), and
:meth:`Defense.transform_for_grad`, the gradient path an *adaptive* attack uses (Athalye,
Carlini & Wagner, ICML 2018): BPDA, the identity in the backward pass, for steps that have no
useful gradient; the transform itself where it is differentiable; and EOT, the mean over
random draws, for randomized ones (:func:`attack_view`). A *naive* attack takes the gradient
of the wrapper as it is: zero through a JPEG codec or a rounding.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from typing import Any, ClassVar

import torch
from torch import Tensor

from .._registry import Registry
from ..detectors.base import Detector
from ..detectors.wrapped import require_detector


class GradientPath(Enum):
    """The gradient an adaptive attack takes through a defense (Athalye, Carlini & Wagner 2018)."""

    ITSELF = "itself"  # differentiable (almost everywhere): the transform's own gradient
    BPDA = "bpda"  # no useful gradient (a codec, a rounding): the identity in the backward pass
    EOT = "eot"  # randomized: the mean over random draws


class Defense(Detector):
    """``forward(x) = inner(transform(x))``; built unattached, then :func:`defend` attaches it.

    Subclasses implement :meth:`transform` (and :meth:`transform_for_grad` where it differs),
    validate their parameters in ``__init__`` and list them in :meth:`params`.

    Shape: as the inner detector's, ``(N, 3, H, W)`` or (where ``modalities`` allows it)
    ``(N, T, 3, H, W)``, applied frame by frame.
    """

    modalities: ClassVar[tuple[str, ...]] = ("image", "video")
    gradient_path: ClassVar[GradientPath] = GradientPath.ITSELF  # what an adaptive attack differentiates

    @property
    def randomized(self) -> bool:
        """Draws random numbers at inference (itself or a layer inside): adaptive attacks take EOT."""
        return self.gradient_path is GradientPath.EOT or super().randomized

    def __init__(self) -> None:
        super().__init__()
        self.inner: Detector | None = None
        self.adaptive = False  # set by attack_view: which gradient path attacks get

    def attach(self, inner: Detector) -> Defense:
        if inner.modality not in self.modalities:
            raise ValueError(f"{self.describe()} cannot take {inner.modality} input "
                             f"(it handles {', '.join(self.modalities)})")
        self.inner = inner
        self.input_size, self.modality = inner.input_size, inner.modality
        self.training = inner.training  # this module only: never change the detector's mode
        return self

    @property
    def threshold(self) -> float:  # type: ignore[override]  # the decision is the inner detector's
        return self.inner.threshold if self.inner is not None else 0.5

    def params(self) -> dict[str, Any]:
        return {}

    def transform(self, x: Tensor) -> Tensor:
        """What the defense does at inference. Shape: ``(N, 3, H, W)`` -> same."""
        raise NotImplementedError

    def transform_for_grad(self, x: Tensor) -> Tensor:
        """The input an adaptive attack differentiates through; by default the transform."""
        return self.transform(x)

    def forward(self, x: Tensor) -> Tensor:
        if self.inner is None:
            raise RuntimeError(f"{self.describe()} is not attached to a detector; use defend()")
        frames = x.flatten(0, 1) if x.ndim == 5 else x
        step = self.transform_for_grad if self.adaptive and torch.is_grad_enabled() else self.transform
        return self.inner(step(frames).view(x.shape))

    def describe(self) -> str:
        args = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


def bpda(x: Tensor, transformed: Tensor) -> Tensor:
    """Backward Pass Differentiable Approximation by the identity (straight-through):
    the value of ``transformed``, the gradient of ``x``."""
    return x + (transformed - x).detach()


def no_gradient(x: Tensor, transformed: Tensor) -> Tensor:
    """The value of ``transformed`` with a zero gradient to ``x``: the derivative of a
    piecewise-constant step (a codec, a rounding), as a naive attack sees it."""
    return transformed.detach() + 0 * x


def check_number(value: Any, name: str, low: float, high: float, integer: bool = False) -> float:
    """``value`` as a number in [low, high] (an integer if asked), else a one-line ValueError."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (not integer or float(value).is_integer())
    if not ok or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        raise ValueError(f"{name} must be {kind} in [{low:g}, {high:g}], got {value!r}")
    return int(value) if integer else float(value)


class EOT(Detector):
    """Expectation over Transformation (Athalye et al. 2018): the mean of the logits over
    ``samples`` random draws of a randomized defense. Shape: like the wrapped detector."""

    def __init__(self, inner: Detector, samples: int) -> None:
        super().__init__(inner.input_size)
        self.inner, self.samples = inner, int(samples)
        self.threshold = inner.threshold
        self.training = inner.training  # this module only: never change the detector's mode

    def forward(self, x: Tensor) -> Tensor:
        return torch.stack([self.inner(x) for _ in range(self.samples)]).mean(0)


def defend(detector: Detector, *layers: Defense) -> Detector:
    """Attach defenses to ``detector`` in reading order: ``defend(d, A, B)`` is A -> B -> d."""
    require_detector(detector, "defend()")
    for layer in reversed(layers):
        detector = layer.attach(detector)
    return detector


def layers_of(detector: Detector) -> list[Defense]:
    """The defenses wrapped around a detector, outermost first."""
    out: list[Defense] = []
    layer: Detector | None = detector
    while isinstance(layer, Defense):
        out.append(layer)
        layer = layer.inner
    return out


def chain_name(detector: Detector) -> str:
    """``Jpeg(quality=75) -> GaussianBlur(sigma=1)``: a record's ``defenses`` field ('' if none)."""
    return " -> ".join(layer.describe() for layer in layers_of(detector))


@contextmanager
def attack_view(detector: Detector, adaptive: bool, eot_samples: int = 8) -> Iterator[Detector]:
    """The detector as an attack should see it: naive (the wrappers' own gradients) or
    adaptive (BPDA paths, and EOT over ``eot_samples`` draws when a layer is randomized)."""
    layers = layers_of(detector)
    before = [layer.adaptive for layer in layers]
    for layer in layers:
        layer.adaptive = adaptive
    try:
        randomized = any(layer.randomized for layer in layers)
        yield EOT(detector, eot_samples) if adaptive and randomized else detector
    finally:
        for layer, mode in zip(layers, before):
            layer.adaptive = mode


def adaptive_is_naive(detector: Detector) -> bool:
    """Whether an adaptive attack on the defended ``detector`` takes exactly the naive one's path:
    every layer differentiates its own transform (``ITSELF``, with neither ``transform_for_grad``
    nor ``forward`` of its own: no BPDA) and nothing draws random numbers (no EOT), as for a median
    filter or a blur. The two views then give the same numbers."""
    layers = layers_of(detector)
    return bool(layers) and all(layer.gradient_path is GradientPath.ITSELF and not layer.randomized
                                and type(layer).transform_for_grad is Defense.transform_for_grad
                                and type(layer).forward is Defense.forward for layer in layers)


defenses: Registry[Defense] = Registry("defense", "dfbench.defenses")
register_defense = defenses.register
