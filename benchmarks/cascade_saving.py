"""The worst-case cascade vs the naive grid: same robust accuracy, fewer passes.

Naive: every member attack on every sample at every eps, then per sample the worst case,
made monotone in eps. Cascade (``worst_case`` swept over eps): a sample already fooled is
attacked by no further member and at no larger eps. Reported: forward+backward sample
passes (gradient passes), forward-only sample passes (Square's queries count here), wall
time, and robust accuracy per eps from both. With deterministic members the two accuracies
are equal by construction (tests/attacks/test_composites.py); members with random starts
(APGD, Square) draw different numbers on a smaller batch, so they may differ by a sample.

    .venv/bin/python benchmarks/cascade_saving.py [--size 32] [--samples 160]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from dfbench import create_attack
from dfbench.data import create_dataset
from dfbench.detectors.counting import Counting
from dfbench.train import trained_detector

MEMBERS = [{"name": "apgd", "steps": 10}, {"name": "pgd", "backend": "native", "steps": 10, "loss": "margin"},
           {"name": "square", "n_queries": 100}]
EPS = [1 / 255, 2 / 255, 4 / 255, 8 / 255]


def correct(det, x, y):
    with torch.no_grad():
        return det.predict(x) == y


def naive(det, x, y):
    alive, out = correct(det, x, y), []
    for eps in EPS:
        for spec in MEMBERS:
            spec = dict(spec)
            alive &= correct(det, create_attack(spec.pop("name"), eps=eps, **spec).perturb(det, x, y), y)
        out.append(alive.float().mean().item())
    return out


def cascade(det, x, y):
    outs = create_attack("worst_case", eps=EPS[0], attacks=MEMBERS).sweep(det, x, y, EPS)
    return [correct(det, o, y).float().mean().item() for o in outs]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--samples", type=int, default=160)
    args = p.parse_args()
    cache = Path(os.environ.get("DFBENCH_CACHE", Path.home() / ".cache" / "dfbench" / "checkpoints"))
    det = trained_detector("custom_cnn", "mini", args.size, cache).detector
    test = create_dataset("mini", image_size=args.size)["test"].head(args.samples)
    x, y = test.images, test.labels
    print(f"custom_cnn on mini {args.size}x{args.size}, {len(x)} test samples, clean acc "
          f"{correct(det, x, y).float().mean():.3f}; members: {', '.join(m['name'] for m in MEMBERS)}")
    rows = {}
    for name, fn in (("naive", naive), ("cascade", cascade)):
        counter = Counting(det)
        start = time.perf_counter()
        acc = fn(counter, x, y)
        rows[name] = (counter.grad_samples, counter.forward_samples - counter.grad_samples,
                      time.perf_counter() - start, acc)
    for name, (grad, fwd, sec, acc) in rows.items():
        print(f"  {name:8s} gradient passes {grad:7d}  forward-only {fwd:7d}  {sec:6.1f} s  robust acc per eps "
              + " ".join(f"{a:.3f}" for a in acc))
    g0, f0, s0, _ = rows["naive"]
    g1, f1, s1, _ = rows["cascade"]
    print(f"  cascade / naive: gradient passes {g1 / g0:.2f}, forward-only {f1 / f0:.2f}, time {s1 / s0:.2f}")


if __name__ == "__main__":
    main()
