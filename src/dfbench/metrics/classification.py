"""Binary detection metrics on fake-probability scores (label 1 = fake = positive)."""

from __future__ import annotations

import torch
from torch import Tensor


def roc_auc(scores: Tensor, labels: Tensor) -> float:
    """Area under the ROC curve via the Mann-Whitney U statistic (ties count one half).

    NaN when only one class is present.
    """
    scores, labels = scores.double().flatten(), labels.flatten()
    n_pos, n_neg = int((labels == 1).sum()), int((labels == 0).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = scores.argsort()
    sorted_scores = scores[order]
    ranks = torch.empty_like(scores)
    ranks[order] = torch.arange(1, len(scores) + 1, dtype=torch.float64)
    # average the ranks of tied scores
    _, inverse, counts = torch.unique_consecutive(sorted_scores, return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()
    mean_rank = ends - (counts.double() - 1) / 2
    ranks[order] = mean_rank[inverse]
    u = ranks[labels == 1].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def classification_metrics(scores: Tensor, labels: Tensor, threshold: float = 0.5) -> dict[str, float]:
    """Accuracy, precision, recall, F1 (fake = positive) at ``threshold``, and ROC AUC.

    Shape: ``scores`` and ``labels`` are ``(N,)``; a sample is called fake when
    ``score >= threshold``. Precision is 0 when nothing is called fake.
    """
    pred = (scores >= threshold).long()
    labels = labels.long()
    tp = int(((pred == 1) & (labels == 1)).sum())
    fp = int(((pred == 1) & (labels == 0)).sum())
    fn = int(((pred == 0) & (labels == 1)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "acc": float((pred == labels).float().mean()) if len(labels) else float("nan"),
        "auc": roc_auc(scores, labels),
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def evasion_rate(clean_scores: Tensor, adv_scores: Tensor, labels: Tensor, threshold: float) -> float:
    """Share of fakes detected on clean input that the attack makes score as real.

    NaN when no fake is detected clean.
    """
    detected = (labels == 1) & (clean_scores >= threshold)
    if not detected.any():
        return float("nan")
    return float((adv_scores[detected] < threshold).float().mean())


def best_threshold(scores: Tensor, labels: Tensor) -> float:
    """The threshold on clean scores that maximizes balanced accuracy (calibration on val).

    Candidates are midpoints between consecutive distinct scores (and 0.5); ties go to the
    candidate closest to 0.5.
    """
    s = scores.double().unique()
    candidates = torch.cat([torch.tensor([0.5], dtype=torch.float64), (s[1:] + s[:-1]) / 2]) if len(s) > 1 \
        else torch.tensor([0.5], dtype=torch.float64)
    pos, neg = labels == 1, labels == 0
    pred = scores.double()[None, :] >= candidates[:, None]
    tpr = (pred & pos).sum(1) / pos.sum().clamp_min(1)
    tnr = (~pred & neg).sum(1) / neg.sum().clamp_min(1)
    bal = (tpr + tnr) / 2
    best = bal == bal.max()
    dist = (candidates - 0.5).abs().masked_fill(~best, float("inf"))
    return float(candidates[dist.argmin()])
