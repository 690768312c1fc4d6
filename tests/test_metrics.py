"""dfbench's metrics against scikit-learn's."""

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from dfbench.metrics import best_threshold, classification_metrics, evasion_rate, roc_auc


@pytest.mark.parametrize("seed", range(5))
def test_auc_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 200)
    scores = np.round(rng.random(200) * 0.5 + labels * 0.3, 2)  # rounding makes ties
    assert roc_auc(torch.tensor(scores), torch.tensor(labels)) == pytest.approx(roc_auc_score(labels, scores))


def test_auc_of_one_class_is_nan():
    assert np.isnan(roc_auc(torch.rand(5), torch.ones(5, dtype=torch.long)))


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.8])
def test_threshold_metrics_match_sklearn(threshold):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 300)
    scores = np.clip(rng.random(300) * 0.7 + labels * 0.25, 0, 1)
    pred = (scores >= threshold).astype(int)
    m = classification_metrics(torch.tensor(scores), torch.tensor(labels), threshold)
    assert m["acc"] == pytest.approx(accuracy_score(labels, pred))
    assert m["precision"] == pytest.approx(precision_score(labels, pred, zero_division=0))
    assert m["recall"] == pytest.approx(recall_score(labels, pred))
    assert m["f1"] == pytest.approx(f1_score(labels, pred))
    assert m["auc"] == pytest.approx(roc_auc_score(labels, scores))


def test_evasion_rate_counts_detected_fakes_turned_real():
    labels = torch.tensor([1, 1, 1, 1, 0])
    clean = torch.tensor([0.9, 0.8, 0.7, 0.2, 0.1])  # the fourth fake is missed already
    adv = torch.tensor([0.1, 0.8, 0.3, 0.1, 0.9])
    assert evasion_rate(clean, adv, labels, 0.5) == pytest.approx(2 / 3)
    assert np.isnan(evasion_rate(torch.zeros(2), torch.zeros(2), torch.ones(2, dtype=torch.long), 0.5))


def test_best_threshold_maximizes_balanced_accuracy():
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    scores = torch.tensor([0.05, 0.1, 0.2, 0.25, 0.3, 0.4])  # all below 0.5, yet separable
    t = best_threshold(scores, labels)
    assert 0.2 < t < 0.25
    assert classification_metrics(scores, labels, t)["acc"] == 1.0
    # when 0.5 is among the best it is kept
    assert best_threshold(torch.tensor([0.1, 0.9]), torch.tensor([0, 1])) == 0.5


def test_median_linf_of_successful_perturbations_against_numpy():
    """Declared once in metrics/cell.py; here against numpy's median over the broken samples."""
    import numpy as np

    from dfbench.metrics import CellData, compute_metrics

    g = torch.Generator().manual_seed(0)
    x = torch.rand(40, 3, 8, 8, generator=g)
    x_adv = (x + (torch.rand(40, 1, 1, 1, generator=g) * 0.1) * torch.randn(40, 3, 8, 8, generator=g).sign()).clamp(0, 1)
    labels = torch.arange(40) % 2
    clean = torch.where(labels == 1, 0.9, 0.1) + 0.05 * torch.rand(40, generator=g)
    adv = torch.where(torch.rand(40, generator=g) < 0.5, 1 - clean, clean)
    out = compute_metrics(CellData(x, x_adv, labels, clean, adv, threshold=0.5))
    broken = (((clean >= 0.5).long() == labels) & ((adv >= 0.5).long() != labels)).numpy()
    linf = (x_adv - x).flatten(1).abs().amax(1).numpy()
    assert 5 < broken.sum() < 35
    assert out["linf_median_success"] == pytest.approx(float(np.median(linf[broken])), rel=1e-9)
    none = compute_metrics(CellData(x, x_adv, labels, clean, clean, threshold=0.5))  # nothing broken
    assert np.isnan(none["linf_median_success"])
