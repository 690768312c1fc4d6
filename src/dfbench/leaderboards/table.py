"""Leaderboard tables, rendered from entries only (see entry.py for how entries are built).

One row per entry and attack mode: clean accuracy and AUC, the worst-case robust accuracy per
norm and epsilon, and the entry's headline numbers: ``worst_case``, its lowest robust accuracy
over attack modes (naive and adaptive) at the headline budget ``at``; there too the lowest AUC
and highest EER of the worst-case scores (``robust_auc``, ``robust_eer``), and the highest
``evasion_rate`` (detected fakes made to score real) and ``framing_rate`` (reals accepted clean
made to score fake). Every rate and AUC carries its 95% interval (``<column> lo``/``hi``: Wilson
for rates, bootstrap for AUCs); Markdown shows it as ``0.650 [0.573, 0.720]``. Entries rank by
``worst_case`` (then clean accuracy) among the entries of the same dataset, protocol
(``entry.protocol_of``) and headline budget; equal numbers share a rank, and numbers of
different protocols are never ranked together.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..attacks import AttackKind
from ..attacks.base import eps_label
from ..attacks.transfer import Transfer
from ..errors import DfbenchError
from ..metrics.intervals import wilson
from .entry import describe_flags, protocol_of
from .neutral import csv_text, markdown_text, neutral

HEADLINE_LINF = 8 / 255  # RobustBench's L-inf budget; entries without it fall back to their largest eps
NORM_ORDER = {"linf": 0, "l2": 1}
RANKED_AMONG = ["dataset", "protocol", "at"]  # entries are ranked only against entries equal in these


def headline(entry: dict) -> tuple[str, float]:
    """The budget an entry is ranked at: linf 8/255 if it was run, else its largest linf, else l2 eps."""
    budgets = {(r["norm"], r["eps"]) for r in entry["robust"]}
    if any(n == "linf" and abs(e - HEADLINE_LINF) < 1e-9 for n, e in budgets):
        return "linf", next(e for n, e in budgets if n == "linf" and abs(e - HEADLINE_LINF) < 1e-9)
    return max(budgets, key=lambda b: (b[0] == "linf", b[1]))


def _columns(robust: pd.DataFrame) -> list[str]:
    order = robust.assign(rank=robust.norm.map(NORM_ORDER)).sort_values(["rank", "eps"])
    return list(dict.fromkeys(order.column))


def with_interval(name: str, value: float | None, ci: list[float] | None) -> dict:
    """``{name, "name lo", "name hi"}``: a number and its interval as table columns."""
    return {name: value, f"{name} lo": ci[0] if ci else None, f"{name} hi": ci[1] if ci else None}


def _worst(rows: list[dict], key: str, pick=min) -> dict:
    """The row whose ``key`` is worst for the detector (``pick``: min or max), as that number and its interval."""
    known = [r for r in rows if r[key] is not None]
    row = pick(known, key=lambda r: r[key]) if known else None
    return {key: row[key] if row else None, "ci": row.get(f"{key}_ci") if row else None}


def _headline_numbers(at: list[dict]) -> dict:
    """The headline columns at budget ``at``: the worst over attack modes of each number, with its interval."""
    out = {}
    for column, key, pick in (("worst_case", "robust_acc", min), ("robust_auc", "auc", min),
                              ("evasion_rate", "evasion_rate", max), ("framing_rate", "framing_rate", max)):
        worst = _worst(at, key, pick)
        out.update(with_interval(column, worst[key], worst["ci"]))
    eers = [r["eer"] for r in at if r["eer"] is not None]
    out["robust_eer"] = max(eers) if eers else None
    return out


def leaderboard(entries: list[dict]) -> pd.DataFrame:
    """The leaderboard table of ``entries``: one row per entry and attack mode, ranked per dataset and
    protocol. Every rate and AUC comes with its 95% interval in the columns ``<column> lo`` and ``<column> hi``."""
    rows, robust = [], []
    for i, e in enumerate(entries):
        norm, eps = headline(e)
        at = [r for r in e["robust"] if r["norm"] == norm and r["eps"] == eps]
        headline_numbers = _headline_numbers(at)
        for mode in dict.fromkeys(r["attack_mode"] for r in e["robust"]):
            rows.append({"entry": i, "name": e["name"], "detector": e["detector"], "training": e["training"],
                         "defenses": e["defenses"], "channel": e.get("channel", ""), "attack_mode": mode,
                         "weights": e["weights_sha256"][:12],
                         "dataset": e["dataset"]["name"], "protocol": protocol_of(e), "n": e["dataset"]["n_samples"],
                         **with_interval("clean_acc", e["clean"]["acc"], e["clean"]["acc_ci"]),
                         **with_interval("clean_auc", e["clean"]["auc"], e["clean"]["auc_ci"]),
                         "at": eps_label(norm, eps), **headline_numbers, "flags": ",".join(e["flags"]),
                         "flag_details": describe_flags(e)})
        robust += [{"entry": i, "attack_mode": r["attack_mode"], "norm": r["norm"], "eps": r["eps"],
                    "column": eps_label(r["norm"], r["eps"]), "robust_acc": r["robust_acc"],
                    "lo": r["robust_acc_ci"][0], "hi": r["robust_acc_ci"][1]} for r in e["robust"]]
    if not rows:
        return pd.DataFrame()
    robust = pd.DataFrame(robust)
    eps_columns = _columns(robust)
    wide = pd.concat([robust.pivot_table(index=["entry", "attack_mode"], columns="column", values=value)
                      .reindex(columns=eps_columns).add_suffix(suffix)
                      for value, suffix in (("robust_acc", ""), ("lo", " lo"), ("hi", " hi"))], axis=1)
    table = pd.DataFrame(rows).merge(wide.reset_index(), on=["entry", "attack_mode"], how="left")
    per_entry = table.drop_duplicates("entry")
    # rank among entries of the same dataset, protocol and headline budget; equal numbers share a rank
    score = list(zip(per_entry.worst_case, per_entry.clean_acc))
    per_entry = per_entry.assign(score=score)
    per_entry["rank"] = per_entry.groupby(RANKED_AMONG).score.rank(method="min", ascending=False).astype(int)
    table = table.merge(per_entry[["entry", "rank"]], on="entry")
    table = table.sort_values([*RANKED_AMONG, "rank", "name", "attack_mode"], kind="stable")
    numbers = [*(f"{c}{s}" for c in ("clean_acc", "clean_auc", *eps_columns, "worst_case") for s in ("", " lo", " hi")),
               "at", *(f"{c}{s}" for c in ("robust_auc",) for s in ("", " lo", " hi")), "robust_eer",
               *(f"{c}{s}" for c in ("evasion_rate", "framing_rate") for s in ("", " lo", " hi"))]
    return table[["rank", "name", "detector", "training", "defenses", "channel", "attack_mode", "weights", "dataset",
                  "protocol", "n", *numbers, "flags", "flag_details"]].reset_index(drop=True)


def interval_columns(table: pd.DataFrame) -> list[str]:
    """The columns of ``table`` that have ``<column> lo`` and ``<column> hi`` beside them."""
    return [c for c in table.columns if f"{c} lo" in table.columns and f"{c} hi" in table.columns]


def with_intervals_as_text(table: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """Each number with an interval as ``0.650 [0.573, 0.720]`` (blank when undefined); lo/hi columns folded in."""
    out = table.copy()
    for c in interval_columns(table):
        def text(v: float, lo: float, hi: float) -> str:
            ci = "" if pd.isna(lo) else f" [{lo:.{digits}f}, {hi:.{digits}f}]"
            return "" if pd.isna(v) else f"{v:.{digits}f}{ci}"

        out[c] = [text(*t) for t in zip(table[c], table[f"{c} lo"], table[f"{c} hi"])]
        out = out.drop(columns=[f"{c} lo", f"{c} hi"])
    return out


def transfer_matrix(entries: list[dict]) -> pd.DataFrame:
    """Accuracy of each target under examples crafted on each surrogate.

    One row per (surrogate, base attack and its parameters, eps), one column per undefended target
    (with its training-time defense, if any) and its Wilson interval (``<target> lo``/``hi``);
    empty when no entry holds transfer cells.
    """
    cells = []
    for e in entries:
        if e["defenses"] or e.get("channel"):  # targets as they are: no defense, no channel
            continue
        target = e["detector"] + (f" {e['training']}" if e["training"] else "")
        for c in e["cells"]:
            if c["attack_kind"] != AttackKind.TRANSFER:
                continue
            surrogate, crafted = Transfer.matrix_labels(c["params"], c["backend"])
            n = e["dataset"]["n_samples"]
            lo, hi = wilson(round(c["adv_acc"] * n), n) or (float("nan"), float("nan"))
            cells.append({"surrogate": surrogate, "attack": crafted, "eps_label": eps_label(c["norm"], c["eps"]),
                          "eps": c["eps"], "norm": c["norm"], "target": target, "adv_acc": c["adv_acc"],
                          "lo": lo, "hi": hi, "dataset": e["dataset"]["name"]})
    if not cells:
        return pd.DataFrame()
    cells = pd.DataFrame(cells)
    index = ["dataset", "surrogate", "attack", "norm", "eps_label", "eps"]
    if cells.duplicated([*index, "target"]).any():  # e.g. one target under two weights files
        raise DfbenchError("two transfer cells share surrogate, attack, eps and target; use one results "
                           "directory (or leaderboard) per set of weights")
    targets = list(dict.fromkeys(cells.target))
    parts = [cells.pivot_table(index=index, columns="target", values=value, aggfunc="first")
             .reindex(columns=targets).add_suffix(suffix) for value, suffix in (("adv_acc", ""), ("lo", " lo"),
                                                                                ("hi", " hi"))]
    wide = pd.concat(parts, axis=1)[[f"{t}{s}" for t in targets for s in ("", " lo", " hi")]].reset_index()
    wide = wide.assign(rank=wide.norm.map(NORM_ORDER)).sort_values(["dataset", "surrogate", "attack", "rank", "eps"])
    return (wide.drop(columns=["eps", "norm", "rank"]).rename(columns={"eps_label": "eps"})
            .rename_axis(columns=None).reset_index(drop=True))


def write_tables(table: pd.DataFrame, out_dir: Path, stem: str = "leaderboard") -> list[Path]:
    """Write ``<stem>.csv`` and ``<stem>.md`` into ``out_dir``."""
    out_dir = Path(out_dir)
    csv, md = out_dir / f"{stem}.csv", out_dir / f"{stem}.md"
    neutral(table, csv_text).to_csv(csv, index=False, float_format="%.4f")
    md.write_text(to_markdown(table) + "\n")
    return [csv, md]


def to_markdown(table: pd.DataFrame) -> str:
    """Markdown with every interval beside its number, ``0.650 [0.573, 0.720]``."""
    return neutral(with_intervals_as_text(table), markdown_text).to_markdown(index=False, floatfmt=".3f")
