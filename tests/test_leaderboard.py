"""The leaderboard's robust accuracy: per-sample worst case over attacks, monotone in eps."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from dfbench.leaderboards.robust import robust_accuracy
from dfbench.metrics.intervals import equal_error_rate
from dfbench.leaderboards.table import eps_label


def _rows(cells):
    """cells: (key, attack, eps, adv_scores); 4 samples, labels 0,1,1,1, threshold 0.5."""
    labels = [0, 1, 1, 1]
    clean = [0.2, 0.9, 0.9, 0.3]  # sample 3 is already wrong clean
    records, samples = [], []
    for key, attack, eps, adv in cells:
        records.append({"key": key, "detector": "d", "training": "", "defenses": "", "adaptive": 0, "weights_sha256": "w",
                        "dataset": "mini",
                        "norm": "linf", "eps": eps, "attack": attack, "threshold": 0.5})
        samples += [{"key": key, "idx": i, "label": labels[i], "clean_score": clean[i], "adv_score": a}
                    for i, a in enumerate(adv)]
    return pd.DataFrame(records), pd.DataFrame(samples)


def test_worst_case_over_attacks_and_monotone_in_eps():
    records, samples = _rows([
        ("a1", "fgsm", 0.01, [0.2, 0.1, 0.9, 0.3]),  # fools sample 1
        ("b1", "pgd", 0.01, [0.2, 0.9, 0.9, 0.3]),   # fools nothing
        ("a2", "fgsm", 0.02, [0.2, 0.9, 0.9, 0.3]),  # at larger eps fgsm "misses" sample 1 again
        ("b2", "pgd", 0.02, [0.7, 0.9, 0.9, 0.3]),   # fools sample 0
    ])
    out = robust_accuracy(records, samples).set_index("eps")
    # clean: samples 0,1,2 right (3/4). eps 0.01: worst case loses sample 1 -> 2/4.
    assert out.loc[0.01, "robust_acc"] == pytest.approx(0.5)
    # eps 0.02: sample 1 stays fooled (monotone), sample 0 fooled by pgd -> only sample 2 -> 1/4
    assert out.loc[0.02, "robust_acc"] == pytest.approx(0.25)
    assert out.loc[0.02, "attacks"] == "fgsm,pgd"


def test_eps_labels():
    assert eps_label("linf", 8 / 255) == "linf 8/255"
    assert eps_label("linf", 0.03) == "linf 0.03"
    assert eps_label("l2", 0.5) == "l2 0.5"


def test_evasion_rate_is_worst_case_over_detected_fakes():
    records, samples = _rows([
        ("a1", "fgsm", 0.01, [0.2, 0.1, 0.9, 0.3]),  # fake 1 (detected clean) now scores real
        ("a2", "fgsm", 0.02, [0.9, 0.9, 0.9, 0.1]),  # real 0 now scores fake; fake 1 "recovers"
    ])
    out = robust_accuracy(records, samples).set_index("eps")
    # fakes detected clean: samples 1 and 2 (sample 3 scores real already)
    assert (out.n_detected == 2).all()
    assert out.loc[0.01, "evasion_rate"] == pytest.approx(0.5)
    assert out.loc[0.02, "n_evaded"] == 1  # monotone: sample 1 stays evaded; sample 0 is no evasion
    assert out.loc[0.02, "n_robust"] == 1 and out.loc[0.02, "n"] == 4


def test_framing_auc_and_eer_use_the_worst_case_scores():
    records, samples = _rows([
        ("a1", "fgsm", 0.01, [0.2, 0.1, 0.9, 0.3]),  # fake 1 pushed to real
        ("a2", "fgsm", 0.02, [0.9, 0.9, 0.9, 0.1]),  # real 0 pushed to fake (framing); fake 1 "recovers"
    ])
    out = robust_accuracy(records, samples).set_index("eps")
    assert (out.n_accepted == 1).all()  # the one real (sample 0) is called real clean
    assert out.loc[0.01, "n_framed"] == 0 and out.loc[0.02, "n_framed"] == 1
    assert out.loc[0.02, "framing_rate"] == pytest.approx(1.0)
    # worst-case scores by hand at eps 0.02: fakes take their lowest score so far, the real its highest
    clean = samples.groupby("idx").clean_score.first().to_numpy()
    labels = samples.groupby("idx").label.first().to_numpy()
    worst = [max(clean[0], 0.2, 0.9), min(clean[1], 0.1, 0.9), min(clean[2], 0.9, 0.9), min(clean[3], 0.3, 0.1)]
    assert out.loc[0.02, "auc"] == pytest.approx(roc_auc_score(labels, worst))
    assert out.loc[0.02, "eer"] == pytest.approx(equal_error_rate(np.array(worst), labels))
