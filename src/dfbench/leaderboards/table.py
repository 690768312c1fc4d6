"""Leaderboard tables, rendered from entries only (see entry.py for how entries are built).

One row per entry and attack mode: clean accuracy and AUC, the worst-case robust accuracy per
norm and epsilon, and the entry's headline numbers: ``worst_case``, its lowest robust accuracy
over attack modes (naive and adaptive) at the headline budget ``at``, and ``evasion_rate``, its
highest evasion rate there. Entries rank by ``worst_case`` (then clean accuracy) among the
entries of the same dataset, protocol (``entry.protocol_of``) and headline budget; equal numbers
share a rank, and numbers of different protocols are never ranked together.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pandas as pd

from ..attacks import AttackKind
from ..attacks.transfer import Transfer
from ..errors import DfbenchError
from .entry import protocol_of

HEADLINE_LINF = 8 / 255  # RobustBench's L-inf budget; entries without it fall back to their largest eps
NORM_ORDER = {"linf": 0, "l2": 1}
RANKED_AMONG = ["dataset", "protocol", "at"]  # entries are ranked only against entries equal in these


def eps_label(norm: str, eps: float) -> str:
    """``linf 8/255`` when eps is a whole number of 255ths, else ``l2 0.5``."""
    if norm == "linf":
        k = Fraction(eps).limit_denominator(255) * 255
        if k.denominator == 1 and abs(float(k) / 255 - eps) < 1e-9:
            return f"linf {int(k)}/255"
    return f"{norm} {eps:g}"


def headline(entry: dict) -> tuple[str, float]:
    """The budget an entry is ranked at: linf 8/255 if it was run, else its largest linf, else l2 eps."""
    budgets = {(r["norm"], r["eps"]) for r in entry["robust"]}
    if any(n == "linf" and abs(e - HEADLINE_LINF) < 1e-9 for n, e in budgets):
        return "linf", next(e for n, e in budgets if n == "linf" and abs(e - HEADLINE_LINF) < 1e-9)
    return max(budgets, key=lambda b: (b[0] == "linf", b[1]))


def _columns(robust: pd.DataFrame) -> list[str]:
    order = robust.assign(rank=robust.norm.map(NORM_ORDER)).sort_values(["rank", "eps"])
    return list(dict.fromkeys(order.column))


def leaderboard(entries: list[dict]) -> pd.DataFrame:
    """The leaderboard table of ``entries``: one row per entry and attack mode, ranked per dataset."""
    rows, robust = [], []
    for i, e in enumerate(entries):
        norm, eps = headline(e)
        at = [r for r in e["robust"] if r["norm"] == norm and r["eps"] == eps]
        evasion = [r["evasion_rate"] for r in at if r["evasion_rate"] is not None]
        for mode in dict.fromkeys(r["attack_mode"] for r in e["robust"]):
            rows.append({"entry": i, "name": e["name"], "detector": e["detector"], "training": e["training"],
                         "defenses": e["defenses"], "attack_mode": mode, "weights": e["weights_sha256"][:12],
                         "dataset": e["dataset"]["name"], "protocol": protocol_of(e), "n": e["dataset"]["n_samples"],
                         "clean_acc": e["clean"]["acc"], "clean_auc": e["clean"]["auc"],
                         "worst_case": min(r["robust_acc"] for r in at), "at": eps_label(norm, eps),
                         "evasion_rate": max(evasion) if evasion else None, "flags": ",".join(e["flags"])})
        robust += [{"entry": i, "attack_mode": r["attack_mode"], "norm": r["norm"], "eps": r["eps"],
                    "column": eps_label(r["norm"], r["eps"]), "robust_acc": r["robust_acc"]} for r in e["robust"]]
    if not rows:
        return pd.DataFrame()
    robust = pd.DataFrame(robust)
    wide = robust.pivot_table(index=["entry", "attack_mode"], columns="column", values="robust_acc")
    table = pd.DataFrame(rows).merge(wide.reindex(columns=_columns(robust)).reset_index(),
                                     on=["entry", "attack_mode"], how="left")
    per_entry = table.drop_duplicates("entry")
    # rank among entries of the same dataset, protocol and headline budget; equal numbers share a rank
    score = list(zip(per_entry.worst_case, per_entry.clean_acc))
    per_entry = per_entry.assign(score=score)
    per_entry["rank"] = per_entry.groupby(RANKED_AMONG).score.rank(method="min", ascending=False).astype(int)
    table = table.merge(per_entry[["entry", "rank"]], on="entry")
    table = table.sort_values([*RANKED_AMONG, "rank", "name", "attack_mode"], kind="stable")
    return table[["rank", "name", "detector", "training", "defenses", "attack_mode", "weights", "dataset",
                  "protocol", "n",
                  "clean_acc", "clean_auc", *_columns(robust), "worst_case", "at", "evasion_rate",
                  "flags"]].reset_index(drop=True)


def transfer_matrix(entries: list[dict]) -> pd.DataFrame:
    """Accuracy of each target under examples crafted on each surrogate.

    One row per (surrogate, base attack and its parameters, eps), one column per undefended target
    (with its training-time defense, if any); empty when no entry holds transfer cells.
    """
    cells = []
    for e in entries:
        if e["defenses"]:
            continue
        target = e["detector"] + (f" {e['training']}" if e["training"] else "")
        for c in e["cells"]:
            if c["attack_kind"] != AttackKind.TRANSFER:
                continue
            surrogate, crafted = Transfer.matrix_labels(c["params"], c["backend"])
            cells.append({"surrogate": surrogate, "attack": crafted, "eps_label": eps_label(c["norm"], c["eps"]),
                          "eps": c["eps"], "norm": c["norm"], "target": target, "adv_acc": c["adv_acc"],
                          "dataset": e["dataset"]["name"]})
    if not cells:
        return pd.DataFrame()
    cells = pd.DataFrame(cells)
    index = ["dataset", "surrogate", "attack", "norm", "eps_label", "eps"]
    if cells.duplicated([*index, "target"]).any():  # e.g. one target under two weights files
        raise DfbenchError("two transfer cells share surrogate, attack, eps and target; use one results "
                           "directory (or leaderboard) per set of weights")
    wide = cells.pivot_table(index=index, columns="target", values="adv_acc", aggfunc="first").reset_index()
    wide = wide.assign(rank=wide.norm.map(NORM_ORDER)).sort_values(["dataset", "surrogate", "attack", "rank", "eps"])
    return (wide.drop(columns=["eps", "norm", "rank"]).rename(columns={"eps_label": "eps"})
            .rename_axis(columns=None).reset_index(drop=True))


def write_tables(table: pd.DataFrame, out_dir: Path, stem: str = "leaderboard") -> list[Path]:
    """Write ``<stem>.csv`` and ``<stem>.md`` into ``out_dir``."""
    out_dir = Path(out_dir)
    csv, md = out_dir / f"{stem}.csv", out_dir / f"{stem}.md"
    table.to_csv(csv, index=False, float_format="%.4f")
    md.write_text(to_markdown(table) + "\n")
    return [csv, md]


def to_markdown(table: pd.DataFrame) -> str:
    return table.to_markdown(index=False, floatfmt=".3f")
