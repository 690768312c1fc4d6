"""dfbench.evaluate() against `dfbench run` on the same cells (one code path: about 1.0x), and
evaluate() on a plain nn.Module against a hand-written PGD loop on the same samples.

    cd benchmarks && ../.venv/bin/python evaluate_vs_run.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dfbench  # noqa: E402
from dfbench.benchmark.driver import run_grid  # noqa: E402
from dfbench.benchmark.grid import parse_grid  # noqa: E402
from dfbench.benchmark.store import Store  # noqa: E402
from dfbench.data import create_dataset  # noqa: E402
from dfbench.train import trained_detector  # noqa: E402
from tests.test_evaluate import PGD, _hand_pgd, small_net  # noqa: E402

GRID = {"name": "bench", "seed": 0, "batch_size": 80, "data": {"dataset": "mini", "image_size": 64},
        "detectors": [{"name": "custom_cnn"}],
        "attacks": [{**PGD, "eps": ["2/255", "8/255"]}, {"name": "fgsm", "eps": ["2/255", "8/255"]}]}


def main() -> None:
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        trained = trained_detector("custom_cnn", "mini", 64, cache)  # trains once, outside the timing
        times: dict[str, list[float]] = {"run": [], "evaluate": []}
        for i in range(3):
            start = time.perf_counter()
            store = Store(Path(tmp) / f"run{i}.sqlite")
            run_grid(parse_grid(GRID), store, cache)
            times["run"].append(time.perf_counter() - start)
            ran = store.records().sort_values(["attack", "eps"]).adv_acc.tolist()
            start = time.perf_counter()
            got = dfbench.evaluate(trained.detector, grid=GRID, threshold=trained.threshold, cache_dir=cache)
            times["evaluate"].append(time.perf_counter() - start)
            evaluated = got.records.sort_values(["attack", "eps"]).adv_acc.tolist()
        print(f"same cells (custom_cnn 64 px, 160 samples, PGD-10 and FGSM at 2 and 8/255): identical adv_acc: "
              f"{ran == evaluated}")
        print(f"  run {min(times['run']):.2f} s, evaluate {min(times['evaluate']):.2f} s (best of 3): "
              f"evaluate / run = {min(times['evaluate']) / min(times['run']):.2f}x")

        net = small_net()
        dfbench.train(net, dataset="mini", image_size=32, epochs=6, mean=(0.5,) * 3, std=(0.5,) * 3)
        res = dfbench.evaluate(net, image_size=32, mean=(0.5,) * 3, std=(0.5,) * 3, attacks=[PGD])
        test = create_dataset("mini", image_size=32)["test"]
        hand = _hand_pgd(net, test.images, test.labels, res.threshold)
        ours = float(res.records.adv_acc.iloc[0])
        print(f"plain nn.Module (32 px, 160 samples), PGD-10 at 8/255: evaluate {ours:.3f}, hand-written loop "
              f"{hand:.3f} ({abs(ours - hand) * len(test):.0f} samples apart); clean {res.records.clean_acc.iloc[0]:.3f}")


if __name__ == "__main__":
    main()
