"""The rates an entry publishes, each with its Wilson 95% interval, built from counts and checked
against them: a reader can recompute every number and interval of an entry from its counts."""

from __future__ import annotations

import math
from typing import Any

from ..errors import DfbenchError
from ..metrics.intervals import wilson

TOLERANCE = 1e-6  # published numbers are rounded to 6 decimals


def number(v: Any) -> float | None:
    """A float rounded to 6 decimals (the rates are float32 counts), or None for NaN (JSON has no NaN)."""
    return None if v is None or math.isnan(v) else round(float(v), 6)


def interval(ci: tuple[float, float] | None) -> list[float] | None:
    """``[lo, hi]`` rounded like the numbers (lo down, hi up, so rounding never narrows it), or None."""
    if ci is None or any(math.isnan(v) for v in ci):
        return None
    return [math.floor(ci[0] * 1e6) / 1e6, math.ceil(ci[1] * 1e6) / 1e6]


def rate(name: str, k: int, n: int) -> dict[str, Any]:
    """``{name: k / n, name_ci: Wilson [lo, hi]}``; both None when ``n`` is 0."""
    return {name: number(k / n) if n else None, f"{name}_ci": interval(wilson(k, n))}


def check_rate(part: dict, name: str, k: int, n: int, where: str) -> None:
    """``part[name]`` and ``part[name_ci]`` must be what :func:`rate` gives for ``k`` of ``n``."""
    expected = rate(name, k, n)
    for key, want in expected.items():
        got = part.get(key)
        same = (got is None) == (want is None) and (
            want is None or (all(abs(a - b) <= TOLERANCE for a, b in zip(_flat(got), _flat(want)))
                             and len(_flat(got)) == len(_flat(want))))
        if not same:
            raise DfbenchError(f"{where}: the numbers do not add up: {key} is {got}, but {k} of {n} gives {want}")


def check_interval(value: float | None, ci: list[float] | None, name: str, where: str) -> None:
    """A bootstrap interval: present exactly when its number is, ordered, inside [0, 1]."""
    if (value is None) != (ci is None) or (ci is not None and not 0 <= ci[0] <= ci[1] <= 1):
        raise DfbenchError(f"{where}: {name}_ci {ci} does not fit {name} {value}")


def _flat(v: Any) -> list[float]:
    return [float(x) for x in v] if isinstance(v, list) else [float(v)]
