"""What a channel-aware attack costs: for every channel of a grid, PGD crafted naive (on the raw
input) and channel-aware (BPDA through the codecs, EOT over random parameters), counted in
gradient sample passes through the detector and in wall time, with the robust accuracy each
leaves through the channel. Ratios against the naive attack, measured in the same run.

    .venv/bin/python benchmarks/channel_cost.py [--grid channels] [--samples 160]

Uses the grid's first detector, trained into $DFBENCH_CACHE on first use (as `dfbench run`
would); the attacks are the grid's (one entry per eps).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from dfbench import create_attack
from dfbench.benchmark.grid import load_grid
from dfbench.benchmark.prepare import load_data, load_trained
from dfbench.defenses import attack_view
from dfbench.detectors.counting import Counting

CACHE = Path(os.environ.get("DFBENCH_CACHE", Path.home() / ".cache" / "dfbench" / "checkpoints"))


def robust(detector, x_adv, y) -> float:
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return float((detector.predict(x_adv) == y).float().mean())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--grid", default="channels")
    p.add_argument("--samples", type=int, default=160)
    args = p.parse_args()
    grid = load_grid(args.grid)
    data = load_data(grid)
    spec = grid.detectors[0]
    bare = load_trained(grid, spec, CACHE, data).detector.eval()
    test = data[grid.split].head(args.samples)
    x, y = test.images, test.labels
    print(f"grid {grid.name}, {spec.name}, {len(y)} samples, threads {torch.get_num_threads()}")
    print("| channel | attack | eps | raw robust | naive: through channel | aware: through channel "
          "| gradient passes / sample: naive / aware | time: naive / aware |")
    print("|---|---|---|---|---|---|---|---|")
    for channel in grid.channels:
        counter = Counting(bare)
        scored = channel.build(counter)
        for a in grid.attacks:
            for eps in a.eps:
                runs = {}
                for aware in (False, True):
                    attack = create_attack(a.name, eps=eps, norm=a.norm, backend=a.backend, seed=0, **a.params)
                    counter.grad_samples = 0
                    start = time.perf_counter()
                    with attack_view(channel.attack_target(counter, scored, aware), aware,
                                     channel.eot_samples) as attacked:
                        x_adv = attack.perturb(attacked, x, y)
                    runs[aware] = (x_adv, counter.grad_samples / len(y), time.perf_counter() - start)
                (naive, g0, t0), (aware_x, g1, t1) = runs[False], runs[True]
                print(f"| {channel.name} | {a.name} {a.params.get('steps', '')} | {eps * 255:.0f}/255 "
                      f"| {robust(bare, naive, y):.3f} | {robust(scored, naive, y):.3f} "
                      f"| {robust(scored, aware_x, y):.3f} | {g0:.1f} / {g1:.1f} ({g1 / max(g0, 1e-9):.1f}x) "
                      f"| {t0:.1f} / {t1:.1f} s ({t1 / t0:.1f}x) |", flush=True)


if __name__ == "__main__":
    main()
