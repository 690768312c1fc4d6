"""Images per second per attack per detector (crafting only, untrained weights: speed does not
depend on them), on this machine's CPU or the given device.

Each (detector, attack) runs on one batch after a warm-up; the figure is batch / median seconds
over REPEATS. FGSM's figure is the cost of one forward+backward pass, so the others also read
as "passes per image" against it.

    .venv/bin/python benchmarks/throughput.py [--size 64] [--batch 32] [--repeats 3] [--device cpu]
"""

from __future__ import annotations

import argparse

import torch
from _timing import compare

from dfbench import create_attack, create_detector
from dfbench.device import place, resolve_device

DETECTORS = ["custom_cnn", "hybrid_cnn_lstm_model0", "hybrid_cnn_lstm_model1", "hybrid_cnn_lstm_model2"]
ATTACKS = {  # the quick/full grids' settings, CW shortened (its cost is linear in steps)
    "fgsm": {"eps": 8 / 255},
    "pgd-10": {"name": "pgd", "eps": 8 / 255, "steps": 10},
    "apgd-10": {"name": "apgd", "eps": 8 / 255, "steps": 10},
    "cw-l2 20x1": {"name": "cw", "eps": 0.5, "norm": "l2", "steps": 20, "binary_search_steps": 1},
    "square-100": {"name": "square", "eps": 8 / 255, "n_queries": 100},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.manual_seed(0)
    x = torch.rand(args.batch, 3, args.size, args.size, device=device)
    y = torch.randint(0, 2, (args.batch,), device=device)
    print(f"images/s, batch {args.batch}x3x{args.size}x{args.size}, {device}, {torch.get_num_threads()} threads")
    print(f"{'detector':26s}" + "".join(f"{a:>13s}" for a in ATTACKS))
    for name in DETECTORS:
        det = place(create_detector(name, input_size=(args.size, args.size)), device).eval()
        attacks = {a: create_attack(p.get("name", a), **{k: v for k, v in p.items() if k != "name"})
                   for a, p in ATTACKS.items()}
        medians = compare({a: (lambda atk=atk: atk.perturb(det, x, y)) for a, atk in attacks.items()}, args.repeats)
        print(f"{name:26s}" + "".join(f"{args.batch / medians[a]:13.1f}" for a in ATTACKS))


if __name__ == "__main__":
    main()
