"""Distribution channels: what a platform does to a file before a detector sees it.

A deepfake reaches a detector through a platform that stores it as 8-bit pixels, may resize it
and re-encodes it (JPEG for images, H.264 for video). A channel is the chain of those steps,
always starting with the 8-bit rounding of a saved file::

    perturbation -> 8-bit rounding -> channel layers (in the grid's order) -> detector

Channel layers are input transforms with the same two faces as preprocessing defenses
(:class:`dfbench.defenses.Defense`): ``transform``, the real step (libjpeg, libx264, a resize
with random parameters drawn per sample), and ``transform_for_grad``, the path a
*channel-aware* attack differentiates (BPDA through codecs and roundings, EOT over the random
parameters; Hussain et al., "Adversarial Deepfakes", WACV 2021). A *naive* attack crafts on the
raw input, without the channel, and its result is scored through the channel.

The difference from a defense is who owns it: the platform, not the detector. So a channel is
named in the protocol (numbers through different channels never rank together), not in the
entry's defenses.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .._registry import Registry
from ..defenses.base import Defense


def value_range(value: Any, name: str, low: float, high: float, integer: bool = False) -> tuple[float, float]:
    """``value`` (a number, or ``[lo, hi]``) as a range inside [low, high], else a one-line ValueError."""
    pair = value if isinstance(value, (list, tuple)) else [value, value]
    kind = "an integer" if integer else "a number"
    ok = len(pair) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                                and low <= v <= high and (not integer or float(v).is_integer()) for v in pair)
    if not ok or pair[0] > pair[1]:
        raise ValueError(f"{name} must be {kind} in [{low:g}, {high:g}] or a range [lo, hi] of them, got {value!r}")
    cast = int if integer else float
    return cast(pair[0]), cast(pair[1])


def range_text(lo: float, hi: float) -> str:
    return f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}"


class Channel(Defense):
    """A channel layer: ``forward(x) = inner(transform(x))`` with parameters drawn per sample
    from their ranges (``randomized`` when a range is wider than one value)."""


    def __init__(self) -> None:
        super().__init__()
        self.ranges: dict[str, tuple[float, float]] = {}

    @property
    def randomized(self) -> bool:
        return any(lo != hi for lo, hi in self.ranges.values()) or super().randomized

    def draw(self, name: str, n: int) -> list[float]:
        """``n`` values of parameter ``name``, uniform in its range (integers where it holds integers)."""
        lo, hi = self.ranges[name]
        if isinstance(lo, int):
            return torch.randint(int(lo), int(hi) + 1, (n,)).tolist()
        return (lo + (hi - lo) * torch.rand(n)).tolist()

    def params(self) -> dict[str, Any]:
        """Parameters besides the ranges (an encoder preset): part of the name, so of the protocol."""
        return {}

    def describe(self) -> str:
        args = ", ".join([*(f"{k}={range_text(*v)}" for k, v in self.ranges.items()),
                          *(f"{k}={v}" for k, v in self.params().items())])
        return f"{self.registered_name}({args})" if args else self.registered_name

    registered_name = "channel"


channels: Registry[Channel] = Registry("channel", "dfbench.channels")
register_channel = channels.register
