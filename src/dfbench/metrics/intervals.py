"""Sampling error of the published numbers: Wilson intervals on rates, a bootstrap interval on AUC,
and the equal error rate.

At n = 160 test samples a 95% interval on an accuracy is about +-6 points, so every rate on the
board carries one. Rates use the Wilson score interval (Wilson 1927; ``scipy.stats.binomtest``),
which stays inside [0, 1] and behaves at 0 and n successes. The ROC AUC, not a binomial count,
gets a percentile bootstrap interval with fakes and reals resampled separately (the class sizes
are fixed by the split), seeded so the same scores give the same interval.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import binomtest, rankdata

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000
Interval = tuple[float, float]


def wilson(k: int, n: int, confidence: float = CONFIDENCE) -> Interval | None:
    """Wilson score interval of ``k`` successes in ``n`` trials; None when ``n`` is 0."""
    if n == 0:
        return None
    if not 0 <= k <= n:
        raise ValueError(f"wilson: {k} successes out of {n}")
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def _auc_rows(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """ROC AUC of each row of ``scores`` (Mann-Whitney U, ties one half); labels shared, both classes present."""
    ranks = rankdata(scores, axis=1)
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    return (ranks[:, labels == 1].sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def bootstrap_auc(scores: np.ndarray, labels: np.ndarray, confidence: float = CONFIDENCE,
                  resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> Interval | None:
    """Percentile bootstrap interval of the ROC AUC, each class resampled within itself.

    Shape: ``scores`` and ``labels`` (1 = fake) ``(N,)``. None when a class is missing (no AUC).
    """
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels).astype(int)
    pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    if not len(pos) or not len(neg):
        return None
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.choice(pos, (resamples, len(pos))), rng.choice(neg, (resamples, len(neg)))], axis=1)
    aucs = _auc_rows(scores[idx], np.r_[np.ones(len(pos), int), np.zeros(len(neg), int)])
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(aucs, [alpha, 1 - alpha])
    return float(lo), float(hi)


def equal_error_rate(scores: np.ndarray, labels: np.ndarray) -> float:
    """The equal error rate: where the false-accept and false-reject rates of a threshold on
    ``scores`` cross (their mean at the threshold that brings them closest); NaN without both classes."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels).astype(int)
    pos, neg = scores[labels == 1], scores[labels == 0]
    if not len(pos) or not len(neg):
        return math.nan
    thresholds = np.unique(np.r_[scores, np.inf])
    frr = (pos[None, :] < thresholds[:, None]).mean(axis=1)  # fakes called real
    far = (neg[None, :] >= thresholds[:, None]).mean(axis=1)  # reals called fake
    best = np.argmin(np.abs(frr - far))
    return float((frr[best] + far[best]) / 2)
