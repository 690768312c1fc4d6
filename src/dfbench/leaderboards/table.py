"""Leaderboard tables from a results store: clean accuracy, then robust accuracy per epsilon.

Robust accuracy follows the evaluation protocol (DESIGN.md §3): per sample, the worst case
over every attack run at that norm and epsilon, made monotone in epsilon (a sample fooled
at eps1 counts as fooled at every eps2 > eps1), and a sample misclassified clean is never
robust. So robust accuracy at any epsilon is at most the clean accuracy.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd

from ..attacks.transfer import DEFAULT_BASE
from ..benchmark.store import Store
from ..errors import DfbenchError

ROW_KEYS = ["detector", "training", "defenses", "adaptive", "weights_sha256", "dataset"]


def eps_label(norm: str, eps: float) -> str:
    """``linf 8/255`` when eps is a whole number of 255ths, else ``l2 0.5``."""
    if norm == "linf":
        k = Fraction(eps).limit_denominator(255) * 255
        if k.denominator == 1 and abs(float(k) / 255 - eps) < 1e-9:
            return f"linf {int(k)}/255"
    return f"{norm} {eps:g}"


def robust_accuracy(records: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """Worst-case, eps-monotone robust accuracy per (row, norm, eps).

    Returns long-form rows: ROW_KEYS + ``norm``, ``eps``, ``robust_acc``, ``attacks``.
    """
    merged = samples.merge(records[["key", *ROW_KEYS, "norm", "eps", "attack", "threshold"]], on="key")
    merged["clean_ok"] = (merged.clean_score >= merged.threshold) == (merged.label == 1)
    merged["adv_ok"] = (merged.adv_score >= merged.threshold) == (merged.label == 1)
    out = []
    for group_key, g in merged.groupby([*ROW_KEYS, "norm"], sort=True):
        # per sample and eps: survived every attack at this eps
        ok = g.groupby(["eps", "idx"]).adv_ok.all().unstack("idx").sort_index()
        clean_ok = g.groupby("idx").clean_ok.first().reindex(ok.columns)
        survived = np.logical_and.accumulate(ok.fillna(False).to_numpy(dtype=bool), axis=0) & clean_ok.to_numpy()
        attacks = g.groupby("eps").attack.unique()
        for eps, row in zip(ok.index, survived):
            out.append({**dict(zip([*ROW_KEYS, "norm"], group_key)), "eps": float(eps),
                        "robust_acc": float(row.mean()), "attacks": ",".join(sorted(attacks[eps]))})
    return pd.DataFrame(out)


def leaderboard(store: Store) -> pd.DataFrame:
    """One row per detector (and defense chain): clean acc/AUC, then robust acc per norm and eps."""
    records = store.records()
    if records.empty:
        return pd.DataFrame()
    clean = records.groupby(ROW_KEYS).agg(n=("n_samples", "first"), clean_acc=("clean_acc", "first"),
                                          clean_auc=("clean_auc", "first")).reset_index()
    robust = robust_accuracy(records, store.samples())
    robust["column"] = [eps_label(n, e) for n, e in zip(robust.norm, robust.eps)]
    order = robust.assign(norm_rank=robust.norm.map({"linf": 0, "l2": 1})).sort_values(["norm_rank", "eps"])
    columns = list(dict.fromkeys(order.column))
    wide = robust.pivot_table(index=ROW_KEYS, columns="column", values="robust_acc").reindex(columns=columns)
    table = clean.merge(wide.reset_index(), on=ROW_KEYS, how="left")
    table = table.merge(row_flags(records), on=ROW_KEYS, how="left")
    table["weights"] = table.pop("weights_sha256").str[:12]
    # undefended rows: plain white-box; defended rows: the naive and the adaptive attack, side by side
    table["attack_mode"] = ["" if d == "" else "adaptive" if a else "naive" for d, a in zip(table.defenses,
                                                                                          table.adaptive)]
    table = table.sort_values(["detector", "weights", "defenses", "attack_mode"], kind="stable")
    return table[["detector", "training", "defenses", "attack_mode", "weights", "dataset", "n", "clean_acc",
                  "clean_auc", *columns, "flags"]]


def row_flags(records: pd.DataFrame) -> pd.DataFrame:
    """The sanity flags of each row's cells, united: ROW_KEYS + ``flags`` ("" when healthy)."""
    def union(g: pd.DataFrame) -> str:
        names = {f for col in ("detector_flags", "check_flags") for v in g[col].fillna("") for f in v.split(",") if f}
        return ",".join(sorted(names))

    return pd.DataFrame([{**dict(zip(ROW_KEYS, k)), "flags": union(g)} for k, g in records.groupby(ROW_KEYS)])


def _base_label(backend: str, params: dict) -> str:
    """``pgd (torchattacks) steps=10``: the base attack run on the surrogate and its own parameters."""
    own = {k: v for k, v in params.items() if k not in ("surrogate", "surrogate_seed", "base")}
    return " ".join([f"{params.get('base', DEFAULT_BASE)} ({backend})", *(f"{k}={v}" for k, v in sorted(own.items()))])


def transfer_matrix(store: Store) -> pd.DataFrame:
    """Robust accuracy of each target under examples crafted on each surrogate.

    One row per (surrogate, base attack and its parameters, norm, eps), one column per target
    detector (with its training-time defense, if any), undefended; empty when the store holds no
    transfer cells.
    """
    records = store.records()
    transfer = records[(records.attack_kind == "transfer") & (records.defenses.fillna("") == "")]
    if transfer.empty:
        return pd.DataFrame()
    transfer = transfer.assign(detector=[d + (f" {t}" if t else "") for d, t in zip(transfer.detector,
                                                                                  transfer.training.fillna(""))])
    params = transfer.attack_params.map(json.loads)
    transfer = transfer.assign(surrogate=[p["surrogate"] + (f" (seed {p['surrogate_seed']})"
                                                            if "surrogate_seed" in p else "") for p in params],
                               attack=[_base_label(b, p) for b, p in zip(transfer.backend, params)],
                               eps_label=[eps_label(n, e) for n, e in zip(transfer.norm, transfer.eps)])
    index = ["surrogate", "attack", "eps_label", "eps"]
    if transfer.duplicated([*index, "detector"]).any():  # e.g. one target under two weights files
        raise DfbenchError("two transfer cells share surrogate, attack, eps and target; use one results "
                           "directory per set of weights")
    wide = transfer.pivot_table(index=index, columns="detector", values="adv_acc",
                                aggfunc="first").reset_index().sort_values(["surrogate", "attack", "eps"])
    return wide.drop(columns="eps").rename(columns={"eps_label": "eps"}).rename_axis(columns=None)


def write_tables(table: pd.DataFrame, out_dir: Path, stem: str = "leaderboard") -> list[Path]:
    """Write ``<stem>.csv`` and ``<stem>.md`` into ``out_dir``."""
    out_dir = Path(out_dir)
    csv, md = out_dir / f"{stem}.csv", out_dir / f"{stem}.md"
    table.to_csv(csv, index=False, float_format="%.4f")
    md.write_text(to_markdown(table) + "\n")
    return [csv, md]


def to_markdown(table: pd.DataFrame) -> str:
    return table.to_markdown(index=False, floatfmt=".3f")
