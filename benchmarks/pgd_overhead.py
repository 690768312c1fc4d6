"""Harness overhead: a whole dfbench PGD-10 cell vs a bare hand-written PGD-10 loop.

Same model (custom_cnn, untrained: speed does not depend on the weights), same batch,
same process; the variants run interleaved and the median of REPEATS is reported as
throughput relative to the bare loop (>= 0.95 is the project's target). "attack only" is
``Attack.perturb``; "cell" adds what the runner does per cell on top of crafting: scoring
the adversarial batch, metrics, norms, SSIM and PSNR.

    .venv/bin/python benchmarks/pgd_overhead.py [--batch 80] [--size 64] [--repeats 7]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from _timing import compare, report

from dfbench import create_attack, create_detector
from dfbench.metrics import perturbation_norms
from dfbench.metrics import classification_metrics, perturbation_quality
from dfbench.train import predict_scores


def bare_pgd(model, x, y, eps, alpha, steps):
    x_adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        grad, = torch.autograd.grad(F.cross_entropy(model(x_adv), y), x_adv)
        x_adv = torch.min(torch.max(x_adv.detach() + alpha * grad.sign(), x - eps), x + eps).clamp(0, 1)
    return x_adv


def bare_cell(model, x, y, eps, steps):
    x_adv = bare_pgd(model, x, y, eps, 2.5 * eps / steps, steps)
    with torch.no_grad():
        return (model(x_adv).argmax(1) == y).float().mean()


def dfbench_cell(model, x, y, eps, steps, backend):
    x_adv = create_attack("pgd", eps=eps, steps=steps, backend=backend).perturb(model, x, y)
    scores = predict_scores(model, x_adv, len(x))
    perturbation_norms(x, x_adv), perturbation_quality(x, x_adv)
    return classification_metrics(scores, y)


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
    medians = compare({
        "bare loop (+ accuracy)": lambda: bare_cell(model, x, y, eps, steps),
        "dfbench attack only (torchattacks)": lambda: create_attack("pgd", eps=eps, steps=steps).perturb(model, x, y),
        "dfbench attack only (native)":
            lambda: create_attack("pgd", eps=eps, steps=steps, backend="native").perturb(model, x, y),
        "dfbench cell (torchattacks)": lambda: dfbench_cell(model, x, y, eps, steps, "torchattacks"),
        "dfbench cell (native)": lambda: dfbench_cell(model, x, y, eps, steps, "native"),
    }, args.repeats)
    print(f"PGD-10, custom_cnn, batch {args.batch}x3x{args.size}x{args.size}, {torch.get_num_threads()} threads, "
          f"median of {args.repeats}")
    report(medians, "bare loop (+ accuracy)")


if __name__ == "__main__":
    main()
