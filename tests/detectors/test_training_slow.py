"""custom_cnn trained from scratch on mini reaches the issue's clean-accuracy target (slow: ~2 min)."""

import pytest

from dfbench.data import create_dataset
from dfbench.metrics import classification_metrics
from dfbench.train import predict_scores, trained_detector


@pytest.mark.slow
def test_custom_cnn_on_mini(tmp_path):
    trained = trained_detector("custom_cnn", "mini", 64, tmp_path)
    test = create_dataset("mini", image_size=64)["test"]
    metrics = classification_metrics(predict_scores(trained.detector, test.images), test.labels, trained.threshold)
    # measured 0.850 / 0.883 AUC with seed 0 on one machine and 0.819 / 0.875 on another (the
    # same code: float differences between CPUs change the training path); slack below both
    assert metrics["acc"] >= 0.80
    assert metrics["auc"] >= 0.85
