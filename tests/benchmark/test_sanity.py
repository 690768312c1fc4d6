"""Sanity checks: deliberately broken detectors are flagged, healthy ones are not."""


import pandas as pd
import pytest
import torch

from dfbench.benchmark.sanity import check_cells, probe_detector
from dfbench.detectors.base import Detector


class Broken(Detector):
    """Wraps a trained detector and breaks it in one way."""

    def __init__(self, inner: Detector, how: str) -> None:
        super().__init__(inner.input_size)
        self.inner, self.how, self.threshold = inner, how, inner.threshold

    def forward(self, x):
        if self.how == "step":  # input quantization: gradient masking, zero gradient everywhere
            return self.inner(torch.floor(x * 8) / 8)
        z = self.inner(x)
        if self.how == "random":
            return z + torch.randn_like(z)
        if self.how == "softmax":
            return z.softmax(1)
        if self.how == "log_softmax":
            return z.log_softmax(1)
        if self.how == "saturated":  # what defensive distillation at a high temperature does
            return 1e4 * z
        if self.how == "nan":
            return z * float("nan")
        raise ValueError(self.how)


@pytest.fixture(scope="module")
def probe_batch(mini32):
    test = mini32["test"]
    return test.images[:64], test.labels[:64]


@pytest.mark.parametrize("how,flag", [
    ("step", "zero_gradients"),
    ("step", "survives_large_eps"),
    ("random", "nondeterministic"),
    ("softmax", "probability_outputs"),
    ("saturated", "saturated_softmax"),
    ("nan", "nonfinite_logits"),
])
def test_a_broken_detector_is_flagged(trained_tiny, probe_batch, how, flag):
    assert flag in probe_detector(Broken(trained_tiny.detector, how), *probe_batch)


def test_log_probability_outputs_are_valid_logits(trained_tiny, probe_batch):
    # softmax(log_softmax(z)) = softmax(z): the same detector, nothing to flag
    assert probe_detector(Broken(trained_tiny.detector, "log_softmax"), *probe_batch) == []


def test_healthy_detectors_are_not_flagged(trained_tiny, probe_batch):
    assert probe_detector(trained_tiny.detector, *probe_batch) == []


def test_the_trained_cnn_is_not_masking_gradients(trained_cnn, probe_batch):
    flags = probe_detector(trained_cnn.detector, *probe_batch)
    assert not {"zero_gradients", "survives_large_eps", "nondeterministic", "probability_outputs"} & set(flags)


def record(key, attack="pgd", kind="iterative", eps=0.01, adv_acc=0.5, clean_acc=0.8, n=100, defenses="",
           adaptive=0, **kw):
    return dict(key=key, detector="d", training="", defenses=defenses, adaptive=adaptive, weights_sha256="w",
                dataset="mini",
                attack=attack,
                attack_kind=kind, backend="native", norm="linf", attack_params="{}", eps=eps, adv_acc=adv_acc,
                clean_acc=clean_acc, n_samples=n, **kw)


def flags_of(*records):
    return check_cells(pd.DataFrame(records))


def test_consistent_cells_get_no_flags():
    out = flags_of(record("a", eps=0, adv_acc=0.8), record("b", eps=0.01, adv_acc=0.5),
                   record("c", eps=0.02, adv_acc=0.3), record("f", attack="fgsm", kind="single_step", adv_acc=0.6),
                   record("t", attack="transfer", kind="transfer", adv_acc=0.7),
                   record("s", attack="square", kind="query", adv_acc=0.55))
    assert all(v == [] for v in out.values()), out


@pytest.mark.parametrize("cells,key,flag", [
    ([record("a", eps=0, adv_acc=0.7)], "a", "eps0_changes_accuracy"),
    ([record("a", eps=0.01, adv_acc=0.3), record("b", eps=0.02, adv_acc=0.5)], "b", "not_monotone_in_eps"),
    ([record("a", attack="fgsm", kind="single_step", eps=0.01, adv_acc=0.3),
      record("b", attack="fgsm", kind="single_step", eps=0.02, adv_acc=0.5)], "b", "single_step_not_monotone"),
    ([record("p", adv_acc=0.6), record("f", attack="fgsm", kind="single_step", adv_acc=0.4)], "p",
     "iterative_weaker_than_single_step"),
    ([record("p", adv_acc=0.6), record("t", attack="transfer", kind="transfer", adv_acc=0.3)], "t",
     "transfer_beats_white_box"),
    ([record("p", adv_acc=0.6), record("s", attack="square", kind="query", adv_acc=0.3)], "s",
     "black_box_beats_white_box"),
    ([record("n", defenses="Jpeg(quality=75)", adv_acc=0.6),
      record("a", defenses="Jpeg(quality=75)", adaptive=1, adv_acc=0.2)], "n", "gradient_masking"),
])
def test_inconsistent_cells_are_flagged(cells, key, flag):
    assert flag in flags_of(*cells)[key]


def test_differences_within_two_samples_are_not_flagged():
    out = flags_of(record("a", eps=0.01, adv_acc=0.30), record("b", eps=0.02, adv_acc=0.32),
                   record("f", attack="fgsm", kind="single_step", eps=0.02, adv_acc=0.31))
    assert out == {"a": [], "b": [], "f": []}


def test_a_defense_that_holds_up_adaptively_is_not_masking():
    out = flags_of(record("n", defenses="GaussianBlur(sigma=1)", adv_acc=0.40),
                   record("a", defenses="GaussianBlur(sigma=1)", adaptive=1, adv_acc=0.35),
                   record("u", adv_acc=0.1))  # undefended and naive/adaptive are different rows
    assert out == {"n": [], "a": [], "u": []}
