"""Leaderboard plots (seaborn): robust accuracy vs epsilon, detector x attack, transfer matrix.

Each function draws the entries of one dataset into one PNG and returns its path, or None when
the entries hold nothing to draw.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from ..attacks.base import eps_label, format_eps
from .entry import protocol_of
from .table import headline, transfer_matrix


def labels(entries: list[dict]) -> list[str]:
    """Each entry's :func:`row_label`, with its protocol's name where the entries hold several
    protocols (one detector under two protocols is two lines, never averaged into one)."""
    protocols = {protocol_of(e) for e in entries}
    return [row_label(e, "") + (f" ({protocol_of(e).split('@')[0]})" if len(protocols) > 1 else "")
            for e in entries]


def row_label(entry: dict, mode: str) -> str:
    """``custom_cnn pgd-at(...) Jpeg(quality=75) [adaptive]``: what a plot's row or line is."""
    channel = entry.get("channel", "")
    words = [entry["detector"], entry["training"], entry["defenses"], f"via {channel}" if channel else "",
             f"[{mode}]" if mode else ""]
    return " ".join(w for w in words if w).replace("$", r"\$")  # no matplotlib mathtext


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def _palette(n: int) -> list:
    """``n`` clearly distinct colours: tab10 up to ten, then evenly spaced hues."""
    return sns.color_palette("tab10" if n <= 10 else "husl", n)


def robustness_curves(entries: list[dict], path: Path) -> Path | None:
    """Robust accuracy vs epsilon: one panel per norm, one colour per entry, one line style per attack
    mode; L-inf budgets labelled k/255; the legend outside the panels, so it never covers a line."""
    rows = []
    for e, entry in zip(entries, labels(entries)):
        for r in e["robust"]:
            mode = r["attack_mode"] or "undefended"
            rows += [{"entry": entry, "mode": mode, "norm": r["norm"], "eps": 0.0, "acc": e["clean"]["acc"]},
                     {"entry": entry, "mode": mode, "norm": r["norm"], "eps": r["eps"], "acc": r["robust_acc"]}]
    if not rows:
        return None
    data = pd.DataFrame(rows).drop_duplicates()
    norms = [n for n in ("linf", "l2") if n in set(data.norm)]
    entries_order = list(dict.fromkeys(data.entry))
    fig, axes = plt.subplots(1, len(norms), figsize=(4.2 * len(norms), 3.6), squeeze=False, sharey=True)
    for i, (ax, norm) in enumerate(zip(axes[0], norms)):
        part = data[data.norm == norm]
        sns.lineplot(data=part, x="eps", y="acc", hue="entry", hue_order=entries_order, style="mode",
                     palette=_palette(len(entries_order)), markers=True, ax=ax, legend=i == len(norms) - 1)
        ticks = sorted(set(part.eps))
        ax.set_xticks(ticks, [format_eps(t) if norm == "linf" else f"{t:g}" for t in ticks], rotation=45)
        ax.set_title(f"{norm} threat model")
        ax.set_xlabel("epsilon" + (" (of 255)" if norm == "linf" else " (L2)"))
        ax.set_ylabel("robust accuracy (worst case)")
        ax.set_ylim(0, 1)
    sns.move_legend(axes[0][-1], "upper left", bbox_to_anchor=(1.02, 1), frameon=False, fontsize=8)
    return _save(fig, path)


def attack_heatmap(entries: list[dict], path: Path) -> Path | None:
    """Accuracy under each attack at each entry's headline budget: rows entries, columns attacks."""
    rows = []
    for e, label in zip(entries, labels(entries)):
        norm, eps = headline(e)
        rows += [{"detector": f"{label} [{c['attack_mode']}]" if c["attack_mode"] else label,
                  "attack": f"{c['attack']} ({c['backend']})",
                  "acc": c["adv_acc"], "budget": eps_label(norm, eps)}
                 for c in e["cells"] if c["norm"] == norm and c["eps"] == eps]
    if not rows:
        return None
    data = pd.DataFrame(rows)
    wide = data.pivot_table(index="detector", columns="attack", values="acc", aggfunc="min")
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * wide.shape[1], 1.0 + 0.45 * wide.shape[0]))
    sns.heatmap(wide, annot=True, fmt=".2f", vmin=0, vmax=1, cmap="viridis", ax=ax,
                cbar_kws={"label": "accuracy under attack"})
    ax.set_title(f"accuracy per attack at {', '.join(sorted(set(data.budget)))}")
    ax.set_xlabel("")
    ax.set_ylabel("")
    return _save(fig, path)


def transfer_heatmap(entries: list[dict], path: Path) -> Path | None:
    """The surrogate x target transfer matrix."""
    matrix = transfer_matrix(entries)
    if matrix.empty:
        return None
    index = [f"{s} {a} {e}" for s, a, e in zip(matrix.surrogate, matrix.attack, matrix.eps)]
    wide = matrix.drop(columns=["dataset", "surrogate", "attack", "eps"]).set_axis(index)
    wide = wide[[c for c in wide.columns if not c.endswith((" lo", " hi"))]]
    fig, ax = plt.subplots(figsize=(2.5 + 1.4 * wide.shape[1], 1.0 + 0.45 * wide.shape[0]))
    sns.heatmap(wide.astype(float), annot=True, fmt=".2f", vmin=0, vmax=1, cmap="viridis", ax=ax,
                cbar_kws={"label": "target accuracy"})
    ax.set_title("transfer: examples crafted on the surrogate (rows), scored on the target (columns)")
    ax.set_xlabel("target")
    return _save(fig, path)
