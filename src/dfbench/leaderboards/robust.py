"""The numbers of a leaderboard row from a run's per-sample scores: worst case over attacks,
monotone in eps, with intervals (docs/protocol.md).

Robust accuracy: per sample, the worst case over every attack run at that norm and epsilon,
made monotone in epsilon (a sample fooled at eps1 counts as fooled at every eps2 > eps1), and
a sample misclassified clean is never robust, so robust accuracy is at most the clean accuracy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from ..benchmark.sanity import with_defaults
from ..metrics import roc_auc
from ..metrics.intervals import bootstrap_auc, equal_error_rate
from .rates import interval, number, rate

ROW_KEYS = ["detector", "training", "defenses", "channel", "adaptive", "weights_sha256", "dataset", "precision",
            "protocol"]


def robust_accuracy(records: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """Worst-case, eps-monotone robust accuracy, evasion and framing rates, AUC and EER per (row, norm, eps).

    Returns long-form rows: ROW_KEYS + ``norm``, ``eps``, ``n``, ``n_robust``, ``robust_acc``,
    ``n_detected`` (fakes detected clean), ``n_evaded`` (of those, fooled by some attack at this
    eps or below), ``evasion_rate`` (NaN when no fake is detected clean), ``n_accepted`` (reals
    called real clean), ``n_framed`` (of those, made to score fake), ``framing_rate``, ``auc``
    and ``eer`` of the worst-case scores (per sample the lowest P(fake) of a fake and the highest
    of a real over the clean input and every attack at this eps or below) with the AUC's
    bootstrap interval ``auc_lo``/``auc_hi``, ``attacks``, and ``outcome``: which samples are
    robust (:func:`bits`).
    """
    records = with_defaults(records)
    merged = samples.merge(records[["key", *ROW_KEYS, "norm", "eps", "attack", "threshold"]], on="key")
    merged["clean_ok"] = (merged.clean_score >= merged.threshold) == (merged.label == 1)
    merged["adv_ok"] = (merged.adv_score >= merged.threshold) == (merged.label == 1)
    # the score the attacker wants: low for fakes, high for reals; worst case = its minimum
    merged["toward_wrong"] = np.where(merged.label == 1, merged.adv_score, -merged.adv_score)
    out = []
    for group_key, g in merged.groupby([*ROW_KEYS, "norm"], sort=True):
        # per sample and eps: survived every attack at this eps
        ok = g.groupby(["eps", "idx"]).adv_ok.all().unstack("idx").sort_index()
        per_sample = g.groupby("idx")[["clean_ok", "label", "clean_score"]].first().reindex(ok.columns)
        clean_ok = per_sample.clean_ok.to_numpy(dtype=bool)
        labels = per_sample.label.to_numpy()
        detected, accepted = clean_ok & (labels == 1), clean_ok & (labels == 0)
        survived = np.logical_and.accumulate(ok.fillna(False).to_numpy(dtype=bool), axis=0) & clean_ok
        clean_toward = np.where(labels == 1, 1.0, -1.0) * per_sample.clean_score.to_numpy()
        toward = g.groupby(["eps", "idx"]).toward_wrong.min().unstack("idx").reindex(index=ok.index,
                                                                                    columns=ok.columns)
        worst = np.minimum.accumulate(np.fmin(toward.to_numpy(), clean_toward), axis=0)
        attacks = g.groupby("eps").attack.unique()
        for eps, row, w in zip(ok.index, survived, worst):
            scores = np.where(labels == 1, w, -w)  # back to P(fake)
            auc_ci = bootstrap_auc(scores, labels)
            out.append({**dict(zip([*ROW_KEYS, "norm"], group_key)), "eps": float(eps), "n": len(row),
                        "n_robust": int(row.sum()), "robust_acc": float(row.mean()),
                        "n_detected": int(detected.sum()), "n_evaded": int((detected & ~row).sum()),
                        "n_accepted": int(accepted.sum()), "n_framed": int((accepted & ~row).sum()),
                        "auc": roc_auc(torch.tensor(scores), torch.tensor(labels)),
                        "auc_lo": auc_ci[0] if auc_ci else float("nan"),
                        "auc_hi": auc_ci[1] if auc_ci else float("nan"),
                        "eer": equal_error_rate(scores, labels), "attacks": ",".join(sorted(attacks[eps])),
                        "outcome": bits(row)})
    out_frame = pd.DataFrame(out)
    if not out_frame.empty:
        out_frame["evasion_rate"] = out_frame.n_evaded / out_frame.n_detected.where(out_frame.n_detected > 0)
        out_frame["framing_rate"] = out_frame.n_framed / out_frame.n_accepted.where(out_frame.n_accepted > 0)
    return out_frame


def bits(correct: np.ndarray) -> str:
    """Per-sample outcomes as ``"1101..."`` (1: right), in sample order: what a paired test compares."""
    return "".join("1" if c else "0" for c in correct)


def cell_outcomes(records: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """Per cell key: ``clean`` and ``adv`` outcome bits (:func:`bits`) in sample order."""
    merged = samples.merge(records[["key", "threshold"]], on="key").sort_values(["key", "idx"])
    merged["clean_ok"] = (merged.clean_score >= merged.threshold) == (merged.label == 1)
    merged["adv_ok"] = (merged.adv_score >= merged.threshold) == (merged.label == 1)
    return merged.groupby("key").agg(clean=("clean_ok", bits), adv=("adv_ok", bits))


def clean_numbers(first: pd.Series, samples: pd.DataFrame) -> dict[str, Any]:
    """Clean accuracy with its Wilson interval, AUC with its bootstrap interval, EER, threshold."""
    per_sample = samples.groupby("idx")[["clean_score", "label"]].first()
    scores, labels = per_sample.clean_score.to_numpy(), per_sample.label.to_numpy()
    n = int(first.n_samples)
    correct = round(float(first.clean_acc) * n)
    return {**rate("acc", correct, n), "auc": number(first.clean_auc),
            "auc_ci": interval(bootstrap_auc(scores, labels)), "eer": number(equal_error_rate(scores, labels)),
            "threshold": float(first.threshold)}


def clean_flags(clean: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Flags of an entry's clean numbers (:func:`clean_numbers`), with what raised them:
    ``clean_auc_at_chance`` where the clean AUC's interval holds 0.5 (the detector does not tell
    real from fake on these samples, so its robust numbers say little of robustness; advisory),
    ``clean_auc_below_chance`` where the interval lies below 0.5 (it ranks fakes as real: are
    its classes swapped?)."""
    ci = clean["auc_ci"]
    if ci is None or ci[0] > 0.5:
        return {}
    flag = "clean_auc_below_chance" if ci[1] < 0.5 else "clean_auc_at_chance"
    return {flag: [{"cell": f"clean AUC {clean['auc']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]", "adv_acc": None}]}
