"""What the input checks cost: building a component with its parameters checked against the
factory's signature (validate.check_params, on every `Registry.create`) vs calling the factory
bare, and reading a grid with bounded reads and every number checked vs `tomllib` alone; each
also as a share of one PGD-10 attack on a batch, the work they guard. Target: the checks are
well under 1% of an attack.

    .venv/bin/python benchmarks/validation_overhead.py [--batch 32] [--size 64] [--repeats 200]
"""

from __future__ import annotations

import argparse
import logging
import tomllib

import torch
from _timing import compare

from dfbench import create_detector
from dfbench.attacks import attacks
from dfbench.benchmark.grid import GRIDS_DIR, load_grid
from dfbench.safe_files import read_toml


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    torch.manual_seed(0)
    params = {"eps": 8 / 255, "steps": 10, "backend": "native"}
    factory = attacks.get("pgd")
    grid = GRIDS_DIR / "standard.toml"
    checks = compare({
        "pgd built, parameters checked": lambda: attacks.create("pgd", **params),
        "pgd built, factory bare": lambda: factory(**params),
        "grid file read, bounded + checked": lambda: read_toml(grid, "grid"),
        "grid file read, tomllib alone": lambda: tomllib.loads(grid.read_text()),
        "grid loaded and validated (standard)": lambda: load_grid("standard"),
    }, args.repeats)
    detector = create_detector("custom_cnn", input_size=(args.size, args.size)).eval()
    x, y = torch.rand(args.batch, 3, args.size, args.size), torch.randint(0, 2, (args.batch,))
    attack = factory(**params)
    work = compare({"pgd-10 on the batch": lambda: attack.perturb(detector, x, y)}, max(3, args.repeats // 50))
    base = work["pgd-10 on the batch"]
    print(f"PGD-10 on {args.batch} x 3 x {args.size} x {args.size} (custom_cnn, CPU): {base * 1000:.1f} ms")
    for name, seconds in checks.items():
        print(f"  {name:40s} {seconds * 1e6:9.1f} us   {100 * seconds / base:7.3f}% of the attack")
    extra = checks["pgd built, parameters checked"] - checks["pgd built, factory bare"]
    print(f"the signature check adds {extra * 1e6:.1f} us per component built "
          f"({checks['pgd built, parameters checked'] / checks['pgd built, factory bare']:.2f}x the bare factory)")


if __name__ == "__main__":
    main()
