"""What AutoAttack's rule saves: a grid's attacks with and without early exit, identical decisions.

With early exit a sample already fooled (clean, or at some step) keeps that first adversarial and
takes no further steps; without it every sample is attacked to the last step (the first
adversarial still kept, so the numbers are the same by construction, which this checks per sample).
For every attack entry of the grid (transfer left out: it attacks a surrogate, not the target),
on one of the grid's detectors (``--detector``, its index in the grid; 0: custom_cnn plainly
trained), undefended: gradient and forward sample passes, wall time, and the number of
samples whose decision differs (expected 0).

    .venv/bin/python benchmarks/early_exit.py [--grid full] [--samples 160] [--detector 0] [--only cw,pgd]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from dfbench import create_attack
from dfbench.attacks.base import without_early_exit
from dfbench.benchmark.grid import load_grid
from dfbench.benchmark.prepare import load_trained
from dfbench.data import create_dataset
from dfbench.detectors.counting import Counting

CACHE = Path(os.environ.get("DFBENCH_CACHE", Path.home() / ".cache" / "dfbench" / "checkpoints"))


def run(spec, det, x, y):
    """Decisions ``(eps, N)``, gradient and forward sample passes, seconds."""
    counter = Counting(det)
    start = time.perf_counter()
    attack = create_attack(spec.name, eps=spec.eps[0], norm=spec.norm, backend=spec.backend, seed=0, **spec.params)
    if attack.sweeps:
        outs = attack.sweep(counter, x, y, list(spec.eps))
    else:
        outs = [create_attack(spec.name, eps=e, norm=spec.norm, backend=spec.backend, seed=0, **spec.params)
                .perturb(counter, x, y) for e in spec.eps]
    seconds = time.perf_counter() - start
    with torch.no_grad():
        decisions = torch.stack([det.predict(o) for o in outs])
    return decisions, counter.grad_samples, counter.forward_samples - counter.grad_samples, seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--grid", default="full")
    p.add_argument("--samples", type=int, default=160)
    p.add_argument("--detector", type=int, default=0, help="index of the detector in the grid's list")
    p.add_argument("--only", default="", help="comma-separated attack names (default: every entry)")
    args = p.parse_args()
    grid = load_grid(args.grid)
    spec = grid.detectors[args.detector]
    data = create_dataset(grid.dataset, image_size=grid.image_size)
    det = load_trained(grid, spec, CACHE, data).detector.eval()  # the checkpoint `dfbench run` uses
    test = data["test"].head(args.samples)
    x, y = test.images, test.labels
    print(f"grid {grid.name}, {spec.name} ({spec.training_name}) undefended, {len(y)} samples at {grid.image_size} px")
    print("| attack | eps | gradient passes: exit / none | forward passes: exit / none | time: exit / none "
          "| decisions differing |")
    print("|---|---|---|---|---|---|")
    totals = [0, 0, 0, 0, 0.0, 0.0]
    for spec in grid.attacks:
        if spec.name == "transfer" or (args.only and spec.name not in args.only.split(",")):
            continue
        fast = run(spec, det, x, y)
        with without_early_exit():
            slow = run(spec, det, x, y)
        differ = int((fast[0] != slow[0]).sum())
        label = f"{spec.name} {spec.norm} {spec.backend} {spec.params.get('steps', '')}".strip()
        eps = ",".join(f"{e:.4g}" for e in spec.eps)
        print(f"| {label} | {eps} | {fast[1]} / {slow[1]} ({fast[1] / max(slow[1], 1):.2f}x) | {fast[2]} / {slow[2]} | "
              f"{fast[3]:.1f} / {slow[3]:.1f} s | {differ} |", flush=True)
        for i, v in enumerate((fast[1], slow[1], fast[2], slow[2], fast[3], slow[3])):
            totals[i] += v
    g, gs, f, fs, t, ts = totals
    print(f"| **all** | | {g} / {gs} ({g / gs:.2f}x, {1 - g / gs:.0%} saved) | {f} / {fs} | {t:.0f} / {ts:.0f} s "
          f"({t / ts:.2f}x) | |")


if __name__ == "__main__":
    main()
