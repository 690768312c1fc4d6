"""The grid's sample passes with and without the reuse rules (docs/architecture.md), same numbers.

Rules measured here: clean scores once per detector and defense (not once per cell), and
transfer examples crafted once per surrogate (not once per target and defense). The third
rule, the worst-case cascade, is ``cascade_saving.py``. "Without" forgets the Worker's caches
before every job, which is what a grid without those rules computes; both runs must store the
same robust accuracies. Counted: samples through every detector forward (``forward``) and
those with a gradient path (``grad``: each followed by a backward pass).

    cd benchmarks && ../.venv/bin/python reuse_passes.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from dfbench.benchmark import prepare
from dfbench.benchmark.driver import run_grid
from dfbench.benchmark.grid import load_grid
from dfbench.benchmark.worker import Worker
from dfbench.benchmark.store import Store
from dfbench.detectors.counting import Counting

GRID = """
name = "reuse"
seed = 0
batch_size = 80
[data]
dataset = "mini"
image_size = 32
split = "test"
[[detectors]]
name = "custom_cnn"
[[detectors]]
name = "test_tiny_cnn"
[[attacks]]
name = "fgsm"
eps = ["2/255", "8/255"]
[[attacks]]
name = "pgd"
steps = 10
eps = ["2/255", "8/255"]
[[attacks]]
name = "transfer"
surrogate = "test_tiny_cnn"
steps = 10
eps = ["2/255", "8/255"]
[[defenses]]
chain = [{ name = "jpeg", quality = 75 }]
[[defenses]]
chain = [{ name = "median_filter", size = 3 }]
"""

COUNTERS: list[Counting] = []


def counted(real):
    def wrapper(*args, **kwargs):
        trained = real(*args, **kwargs)
        det = Counting(trained.detector)
        COUNTERS.append(det)
        return prepare.Trained(det, trained.weights_path, trained.weights_sha256, trained.threshold, trained.card)
    return wrapper


def run(tmp: Path, reuse: bool) -> tuple[pd.DataFrame, int, int]:
    COUNTERS.clear()
    real_run = Worker.run

    def forgetful(self, job):
        self._clean.clear()
        self.crafter._target_independent.clear()
        return real_run(self, job)

    Worker.run = real_run if reuse else forgetful
    try:
        store = Store(tmp / f"{reuse}.sqlite")
        run_grid(load_grid(tmp / "reuse.toml"), store, tmp / "cache")
    finally:
        Worker.run = real_run
    records = store.records().sort_values("key")[["key", "clean_acc", "adv_acc"]].reset_index(drop=True)
    return records, sum(c.forward_samples for c in COUNTERS), sum(c.grad_samples for c in COUNTERS)


def main() -> None:
    real = prepare.trained_detector
    prepare.trained_detector = counted(real)
    try:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            (tmp / "reuse.toml").write_text(GRID)
            with_rules = run(tmp, reuse=True)
            without = run(tmp, reuse=False)
    finally:
        prepare.trained_detector = real
    pd.testing.assert_frame_equal(with_rules[0], without[0])  # the same numbers
    print("reuse rules (clean scores once per detector/defense, transfer examples once per surrogate):")
    print(f"  forward sample passes: {with_rules[1]:8d} with, {without[1]:8d} without -> "
          f"{with_rules[1] / without[1]:.2f}x")
    print(f"  grad sample passes:    {with_rules[2]:8d} with, {without[2]:8d} without -> "
          f"{with_rules[2] / without[2]:.2f}x")
    print(f"  same records in both: yes ({len(with_rules[0])} cells)")


if __name__ == "__main__":
    main()
