"""Grid wall time by executor: in-process (2 threads) vs 2 worker processes vs 2 Ray tasks.

Runs a shipped grid (default `quick`) from scratch into a fresh store for each executor, with
the detector's checkpoint already cached (trained once up front, not timed), and checks that
every executor stores the same numbers. One repeat each by default: a run takes minutes.

    cd benchmarks && ../.venv/bin/python workers.py [--grid quick] [--repeats 1]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import torch

from dfbench.benchmark.executors import Processes, RayExecutor
from dfbench.benchmark.grid import load_grid
from dfbench.benchmark.driver import run_grid
from dfbench.benchmark.prepare import load_for_grid
from dfbench.benchmark.store import Store
from dfbench.train import default_cache_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", default="quick")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(2)
    grid, cache = load_grid(args.grid), default_cache_dir()
    load_for_grid(grid, cache)  # train (or load) the detectors first
    executors = {"in-process, 2 threads": lambda: None, "2 worker processes": lambda: Processes(2)}
    try:
        import ray  # noqa: F401
        executors["2 Ray tasks (local)"] = lambda: RayExecutor(workers=2)
    except ImportError:
        print("ray not installed: skipping the Ray executor")
    times: dict[str, list[float]] = {k: [] for k in executors}
    numbers = {}
    for _ in range(args.repeats):
        for name, make in executors.items():
            with tempfile.TemporaryDirectory() as tmp:
                store = Store(Path(tmp) / "results.sqlite")
                start = time.perf_counter()
                summary = run_grid(grid, store, cache, executor=make())
                times[name].append(time.perf_counter() - start)
                assert summary.failed == 0, summary
                numbers[name] = store.records()[["key", "adv_acc"]].sort_values("key").adv_acc.tolist()
    base = min(times["in-process, 2 threads"])
    print(f"grid {args.grid}: {len(grid.cells())} cells, best of {args.repeats}")
    for name, t in times.items():
        print(f"  {name:28s} {min(t):7.1f} s   speed-up vs in-process: {base / min(t):.2f}x")
    same = all(v == numbers["in-process, 2 threads"] for v in numbers.values())
    print(f"  identical robust accuracies across executors: {same}")


if __name__ == "__main__":
    main()
