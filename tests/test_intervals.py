"""Intervals against independent references: the textbook Wilson formula, sklearn's AUC and ROC
curve, and a plain bootstrap loop over the same resampled indices."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from dfbench.metrics.intervals import BOOTSTRAP_RESAMPLES, bootstrap_auc, equal_error_rate, wilson


@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (10, 10), (80, 160), (151, 160), (1, 1)])
def test_wilson_matches_the_textbook_formula(k, n):
    z = 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    lo, hi = wilson(k, n)
    assert lo == pytest.approx(max(0.0, centre - half), abs=1e-9)
    assert hi == pytest.approx(min(1.0, centre + half), abs=1e-9)


def test_wilson_of_no_trials_is_undefined_and_bad_counts_are_refused():
    assert wilson(0, 0) is None
    with pytest.raises(ValueError, match="successes"):
        wilson(5, 4)


def test_bootstrap_auc_is_the_percentile_interval_of_sklearns_auc_on_the_same_resamples():
    rng = np.random.default_rng(3)
    labels = np.r_[np.ones(30, int), np.zeros(50, int)]
    rng.shuffle(labels)
    scores = np.round(rng.normal(labels * 0.8, 1.0), 1)  # rounded: ties, which count one half
    lo, hi = bootstrap_auc(scores, labels, resamples=300, seed=7)
    # the same draws, scored one resample at a time by sklearn
    draw = np.random.default_rng(7)
    pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    idx = np.concatenate([draw.choice(pos, (300, len(pos))), draw.choice(neg, (300, len(neg)))], axis=1)
    aucs = [roc_auc_score(labels[i], scores[i]) for i in idx]
    assert (lo, hi) == pytest.approx(tuple(np.quantile(aucs, [0.025, 0.975])), abs=1e-12)
    assert lo < roc_auc_score(labels, scores) < hi


def test_bootstrap_auc_is_seeded_and_undefined_on_one_class():
    scores, labels = np.linspace(0, 1, 40), np.r_[np.zeros(20, int), np.ones(20, int)]
    assert bootstrap_auc(scores, labels) == bootstrap_auc(scores, labels)
    assert bootstrap_auc(scores, labels) == (1.0, 1.0)  # separable: every resample is separable
    assert bootstrap_auc(scores, np.ones(40, int)) is None
    assert BOOTSTRAP_RESAMPLES >= 1000


def test_equal_error_rate_matches_sklearns_roc_curve():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    scores = rng.normal(labels * 1.2, 1.0)
    fpr, tpr, _ = roc_curve(labels, scores)
    fnr = 1 - tpr
    best = np.argmin(np.abs(fnr - fpr))
    assert equal_error_rate(scores, labels) == pytest.approx((fnr[best] + fpr[best]) / 2, abs=1e-12)
    assert math.isnan(equal_error_rate(scores, np.zeros(200, int)))
