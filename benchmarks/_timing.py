"""Shared by the benchmark scripts: interleaved repeats, median seconds, ratio to a baseline."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def compare(variants: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds of each variant; variants run interleaved after one warm-up each."""
    for fn in variants.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def report(medians: dict[str, float], baseline: str, what: str = "throughput vs") -> None:
    base = medians[baseline]
    for name, med in medians.items():
        print(f"  {name:38s} {med * 1000:9.1f} ms   {what} {baseline}: {base / med:.2f}x")
