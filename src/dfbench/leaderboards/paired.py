"""The paired test of `dfbench check`: a re-run scores the very samples of its baseline (same
seed, same split), so each number is compared sample by sample with McNemar's exact test, which
is sharper than a Wilson bound on the two proportions alone (that ignores the pairing).

For one number (clean accuracy, a robust accuracy, a cell's accuracy) each sample is right or
wrong in the baseline and in the re-run: ``lost`` samples went from right to wrong, ``gained``
the other way. Under "nothing changed" a discordant sample is lost or gained with probability
1/2, so the one-sided p-value of a drop is ``P(Binomial(lost + gained, 1/2) >= lost)``.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from scipy.stats import binomtest

from ..attacks.base import eps_label
from ..benchmark.sanity import with_defaults
from .entry import attack_mode
from .robust import cell_outcomes, robust_accuracy

Outcomes = dict[str, dict[str, str]]  # entry label -> number name -> per-sample bits ("1": right)


def entry_label(detector: str, training: str, defenses: str, channel: str = "") -> str:
    return " ".join(w for w in (detector, training, defenses, f"via {channel}" if channel else "") if w)


def robust_name(norm: str, eps: float, mode: str) -> str:
    return f"robust acc {eps_label(norm, eps)}" + (f" [{mode}]" if mode else "")


def cell_name(attack: str, backend: str, params: dict[str, Any], norm: str, eps: float, mode: str) -> str:
    return f"{attack} ({backend}) {json.dumps(params, sort_keys=True)} {eps_label(norm, eps)}" + \
        (f" [{mode}]" if mode else "")


def outcomes(records: pd.DataFrame, samples: pd.DataFrame) -> Outcomes:
    """Every compared number's per-sample outcomes, named as `dfbench check` names them."""
    records = with_defaults(records)
    records = records.assign(training=records.training.fillna(""), defenses=records.defenses.fillna(""))
    out: Outcomes = {}
    cells = cell_outcomes(records, samples)
    for r in records.itertuples():
        mine = out.setdefault(entry_label(r.detector, r.training, r.defenses, r.channel), {})
        mode = attack_mode(r.defenses, r.adaptive, r.channel)
        mine["clean acc"] = cells.loc[r.key, "clean"]
        mine[cell_name(r.attack, r.backend, json.loads(r.attack_params), r.norm, r.eps, mode)] = cells.loc[r.key, "adv"]
    for r in robust_accuracy(records, samples).itertuples():
        name = robust_name(r.norm, r.eps, attack_mode(r.defenses, r.adaptive, r.channel))
        out[entry_label(r.detector, r.training, r.defenses, r.channel)][name] = r.outcome
    return out


def mcnemar(baseline: str, new: str) -> tuple[int, int, float]:
    """(lost, gained, one-sided exact p-value of a drop) between two outcome bit strings of one number."""
    if len(baseline) != len(new):
        raise ValueError(f"outcomes of {len(baseline)} and {len(new)} samples cannot be paired")
    lost = sum(b == "1" and n == "0" for b, n in zip(baseline, new))
    gained = sum(b == "0" and n == "1" for b, n in zip(baseline, new))
    p = binomtest(lost, lost + gained, 0.5, alternative="greater").pvalue if lost + gained else 1.0
    return lost, gained, float(p)
