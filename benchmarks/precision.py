"""PGD-10 time per batch with the detector in float32 vs under bfloat16 autocast (this CPU).

Same untrained model, batch and seed; medians of interleaved repeats, ratio against float32
measured in the same run (speed does not depend on the weights).

    cd benchmarks && ../.venv/bin/python precision.py [--repeats 5] [--detector custom_cnn]
"""

from __future__ import annotations

import argparse

import torch

from _timing import compare, report
from dfbench.attacks import create_attack
from dfbench.detectors import create_detector
from dfbench.detectors.autocast import Autocast


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--detector", default="custom_cnn")
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    det = create_detector(args.detector, input_size=(args.size, args.size)).eval()
    x = torch.rand(80, 3, args.size, args.size)
    y = torch.randint(0, 2, (80,))
    attack = create_attack("pgd", eps=8 / 255, steps=10, seed=0)
    variants = {"float32": lambda: attack.perturb(det, x, y)}
    for precision in ("bfloat16",):
        amp = Autocast(det, precision)
        variants[precision] = lambda amp=amp: attack.perturb(amp, x, y)
    print(f"{args.detector} {args.size}x{args.size}, PGD-10 on 80 images:")
    report(compare(variants, args.repeats), "float32", "throughput vs")


if __name__ == "__main__":
    main()
