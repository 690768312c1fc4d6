"""Do two results stores hold the same numbers? For refactors: run a grid before and after,
then `python tools/compare_stores.py BEFORE/results.sqlite AFTER/results.sqlite`.

Cells are matched by key (the hash of what was evaluated); every column both stores have is
compared exactly, except provenance and timing (seconds, created_at, git_sha), and so is every
per-sample score. Exit code 0 when identical, 1 otherwise; one line per difference.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys

import pandas as pd

VOLATILE = {"seconds", "created_at", "git_sha"}


def load(path: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        cells = pd.read_sql_query("SELECT * FROM cells", conn).set_index("key").sort_index()
        samples = pd.read_sql_query("SELECT * FROM samples", conn).sort_values(["key", "idx"]).reset_index(drop=True)
    return cells, samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    args = parser.parse_args()
    (a, sa), (b, sb) = load(args.before), load(args.after)
    problems = []
    if set(a.index) != set(b.index):
        problems.append(f"cell keys differ: {len(set(a.index) - set(b.index))} only before, "
                        f"{len(set(b.index) - set(a.index))} only after")
    keys = sorted(set(a.index) & set(b.index))
    shared = sorted((set(a.columns) & set(b.columns)) - VOLATILE)
    for column in shared:
        left, right = a.loc[keys, column], b.loc[keys, column]
        same = (left == right) | (left.isna() & right.isna())
        for key in same[~same].index:
            problems.append(f"{key} {column}: {left[key]!r} before, {right[key]!r} after")
    if not sa.equals(sb):
        problems.append(f"per-sample scores differ ({len(sa)} rows before, {len(sb)} after)")
    for line in problems:
        print(line)
    only = sorted(set(b.columns) - set(a.columns))
    print(f"{len(keys)} cells, {len(shared)} columns and {len(sa)} sample scores compared: "
          f"{'identical' if not problems else f'{len(problems)} difference(s)'}"
          + (f"; columns only after: {', '.join(only)}" if only else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
