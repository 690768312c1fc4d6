"""Where a run's time went, from its store: seconds per detector view and attack kind, and the share
of the run's wall time that training and loading took (what the cells do not account for).

    .venv/bin/python benchmarks/phases.py results/results.sqlite [--wall SECONDS]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dfbench.benchmark.store import Store


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("store", type=Path)
    p.add_argument("--wall", type=float, default=None, help="the run's wall time in seconds, if measured")
    args = p.parse_args()
    store = Store(args.store)
    try:
        records = store.records(status=None)
    finally:
        store.close()
    records = records.assign(view=records.detector + " " + records.training.fillna("") + " "
                             + records.defenses.fillna("") + records.adaptive.map({0: "", 1: " (adaptive)"}))
    by_kind = records.groupby("attack_kind").seconds.sum().sort_values(ascending=False)
    by_view = records.groupby("view").seconds.sum().sort_values(ascending=False)
    total = records.seconds.sum()
    statuses = ", ".join(f"{n} {s}" for s, n in records.status.value_counts().sort_index().items())
    print(f"cells: {len(records)} ({statuses}), attack time {total / 60:.1f} min")
    print("\nby attack kind (min):\n" + (by_kind / 60).round(2).to_string())
    print("\nby detector view (min):\n" + (by_view / 60).round(2).to_string())
    if args.wall and args.wall >= total:
        print(f"\nwall {args.wall / 60:.1f} min; outside the cells' crafting (training, loading, clean scoring, "
              f"probes): {(args.wall - total) / 60:.1f} min")
    elif args.wall:  # several workers, or a store filled over several runs
        print(f"\nwall {args.wall / 60:.1f} min: less than the crafting summed over the store's cells (parallel "
              "workers, or earlier runs into the same store)")


if __name__ == "__main__":
    main()
