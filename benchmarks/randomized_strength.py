"""Is the worst case against a randomized defense an upper bound? dfbench's cascade vs an EOT PGD written here.

custom_cnn (the full grid's plain checkpoint, 64 px) behind the random resize-pad of Xie et al.
(ICLR 2018), attacked adaptively: dfbench's ``worst_case`` entry of a grid (by default the full
grid's APGD-20 / margin PGD-20 / Square-500, EOT over 8 draws, as `dfbench run` attacks it),
and an independent EOT PGD sharing no code with dfbench's attacks: the margin loss on the mean
logits of 8 draws, capped 5 logits past the decision so a fooled sample is pushed on until most
draws agree, sign steps of 2.5 eps / steps, the last iterate kept (no early stop: the draw that
scores is not one the attack saw). Both are scored as the worker scores (one fixed random state,
the grid's batch), and again under 5 other random states (the spread of the scoring draw).

    .venv/bin/python benchmarks/randomized_strength.py [--eps 8,16] [--steps 30] [--samples 160]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from dfbench import create_attack
from dfbench.benchmark.craft import sweep_in_batches
from dfbench.benchmark.grid import load_grid
from dfbench.benchmark.prepare import load_detector_for_grid
from dfbench.defenses import attack_view
from dfbench.train.checkpoint import default_cache_dir
from dfbench.train.fit import predict_scores

CAP = 5.0  # logits past the decision: the independent attack stops pushing a sample there


def accuracy(scored, threshold: float, x, y, seed: int, batch_size: int) -> float:
    """Accuracy under one fixed random state, the worker's way of scoring a randomized detector."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        scores = predict_scores(scored, x, batch_size)
    return float(((scores >= threshold).long() == y).float().mean())


def eot_margin_pgd(scored, shift: float, x, y, eps: float, steps: int, draws: int = 8, seed: int = 1):
    """L-inf PGD on the capped margin of the mean logits over ``draws``; the last iterate."""
    gen = torch.Generator().manual_seed(seed)
    x_adv = (x + (torch.rand(x.shape, generator=gen) * 2 - 1) * eps).clamp(0, 1)
    sign = 1 - 2 * y  # +1 for a real sample (the attack raises the fake logit), -1 for a fake one
    for _ in range(steps):
        x_adv.requires_grad_(True)
        z = torch.stack([scored(x_adv) for _ in range(draws)]).mean(0)
        toward_wrong = sign * (z[:, 1] - z[:, 0] - shift)  # > 0: the detector's decision is wrong
        (g,) = torch.autograd.grad(toward_wrong.clamp(max=CAP).sum(), x_adv)
        with torch.no_grad():
            x_adv = (x + (x_adv + 2.5 * eps / steps * g.sign() - x).clamp(-eps, eps)).clamp(0, 1)
    return x_adv.detach()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--grid", default="full")
    p.add_argument("--eps", default="1,2,4,8,16", help="L-inf budgets in 1/255 (the grid's entry: as the worker "
                                                        "sweeps them)")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--samples", type=int, default=160)
    args = p.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    grid = load_grid(args.grid)
    trained, data = load_detector_for_grid(grid, "custom_cnn", default_cache_dir())
    test = data[grid.split].head(args.samples)
    x, y = test.images.float(), test.labels.long()
    det = trained.detector.eval()
    cell = next((c for c in grid.cells() if c.detector.name == "custom_cnn" and not c.detector.training
                 and c.attack.name == "worst_case" and c.adaptive and c.defense and not c.defense.channel
                 and c.defense.randomized), None)  # its defense and seed, as the worker builds and draws them
    if cell is None:
        raise SystemExit(f"grid {grid.name!r} has no worst case on custom_cnn behind a randomized defense")
    scored = cell.defense.build(det)
    for p_ in scored.parameters():
        p_.requires_grad_(False)
    shift = float(torch.logit(torch.tensor(det.threshold)))
    eps_values = [int(e) / 255 for e in args.eps.split(",")]
    attack = create_attack("worst_case", eps=eps_values[0], norm="linf", seed=cell.seed(grid), **cell.attack.params)

    def row(x_adv):
        others = [accuracy(scored, det.threshold, x_adv, y, s, grid.batch_size) for s in range(1, 6)]
        return accuracy(scored, det.threshold, x_adv, y, grid.seed, grid.batch_size), min(others), max(others)

    start = time.perf_counter()
    with attack_view(scored, adaptive=True, eot_samples=cell.defense.eot_samples) as attacked:
        ours = sweep_in_batches(attack, attacked, test, eps_values, grid.batch_size)  # as the worker crafts
    t_ours = time.perf_counter() - start
    print(f"custom_cnn behind {cell.defense.name}, {len(x)} test samples; clean "
          f"{accuracy(scored, det.threshold, x, y, grid.seed, grid.batch_size):.3f}")
    print(f"dfbench worst_case ({args.grid} grid) sweep {t_ours:.0f} s; EOT margin PGD {args.steps} steps per eps")
    print("| eps | dfbench worst case (other states) | EOT margin PGD (other states) | s independent |")
    print("|---|---|---|---|")
    for eps, x_ours in zip(eps_values, ours):
        start = time.perf_counter()
        x_ind = eot_margin_pgd(scored, shift, x, y, eps, args.steps)
        t_ind = time.perf_counter() - start
        (a, lo, hi), (b, lo2, hi2) = row(x_ours), row(x_ind)
        print(f"| {round(eps * 255)}/255 | {a:.3f} ({lo:.3f}-{hi:.3f}) | {b:.3f} ({lo2:.3f}-{hi2:.3f}) | "
              f"{t_ind:.0f} |", flush=True)


if __name__ == "__main__":
    main()
