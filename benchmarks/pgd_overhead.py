"""Harness overhead: a dfbench PGD-10 attack vs a bare hand-written PGD-10 loop.

Same model (custom_cnn, untrained: speed does not depend on the weights), same batch,
same process; the variants run interleaved, and the median of REPEATS is reported as
throughput relative to the bare loop (>= 0.95 is DESIGN.md's target).

    .venv/bin/python benchmarks/pgd_overhead.py [--batch 80] [--size 64] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from dfbench import create_attack, create_detector


def bare_pgd(model, x, y, eps, alpha, steps):
    x_adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        grad, = torch.autograd.grad(F.cross_entropy(model(x_adv), y), x_adv)
        x_adv = torch.min(torch.max(x_adv.detach() + alpha * grad.sign(), x - eps), x + eps).clamp(0, 1)
    return x_adv


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=80)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args()
    torch.manual_seed(0)
    model = create_detector("custom_cnn", input_size=(args.size, args.size)).eval()
    x = torch.rand(args.batch, 3, args.size, args.size)
    y = torch.randint(0, 2, (args.batch,))
    eps, steps = 8 / 255, 10
    variants = {
        "bare loop": lambda: bare_pgd(model, x, y, eps, 2.5 * eps / steps, steps),
        "dfbench pgd (torchattacks)": lambda: create_attack("pgd", eps=eps, steps=steps).perturb(model, x, y),
        "dfbench pgd (native)": lambda: create_attack("pgd", eps=eps, steps=steps, backend="native").perturb(model, x, y),
    }
    times = {k: [] for k in variants}
    for fn in variants.values():
        fn()  # warm-up
    for _ in range(args.repeats):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["bare loop"])
    print(f"PGD-10, custom_cnn, batch {args.batch}x3x{args.size}x{args.size}, {torch.get_num_threads()} threads, "
          f"median of {args.repeats}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"  {name:30s} {med * 1000:8.1f} ms   throughput vs bare loop: {base / med:.2f}x")


if __name__ == "__main__":
    main()
