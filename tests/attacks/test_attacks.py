"""Attacks: budgets, seeds, and torchattacks against dfbench's native reference loop."""

import pytest
import torch

from dfbench.attacks import Attack, BudgetError, _native, create_attack
from dfbench.errors import ConfigError


@pytest.fixture(scope="module")
def batch(mini32):
    test = mini32["test"]
    return test.images[:48], test.labels[:48]


def test_different_seed_changes_the_random_start(trained_tiny, batch):
    x, y = batch
    a = create_attack("pgd", eps=4 / 255, seed=1).perturb(trained_tiny.detector, x, y)
    b = create_attack("pgd", eps=4 / 255, seed=2).perturb(trained_tiny.detector, x, y)
    assert not torch.equal(a, b)


def _robust_acc(det, x_adv, y):
    """At the detector's calibrated threshold, the decision attacks aim at."""
    with torch.no_grad():
        return (det.predict(x_adv) == y).float().mean().item()


@pytest.mark.parametrize("norm,eps", [("linf", 2 / 255), ("linf", 4 / 255), ("l2", 0.25)])
def test_torchattacks_pgd_agrees_with_native_pgd(trained_tiny, mini32, norm, eps):
    det = trained_tiny.detector
    x, y = mini32["test"].images, mini32["test"].labels
    ta = create_attack("pgd", eps=eps, norm=norm, backend="torchattacks", steps=10).perturb(det, x, y)
    nat = create_attack("pgd", eps=eps, norm=norm, backend="native", steps=10).perturb(det, x, y)
    clean = _robust_acc(det, x, y)
    acc_ta, acc_nat = _robust_acc(det, ta, y), _robust_acc(det, nat, y)
    assert acc_ta < clean and acc_nat < clean
    # different random starts, same algorithm: within 4 samples in 160
    assert abs(acc_ta - acc_nat) <= 4 / len(y), (acc_ta, acc_nat)


def test_fgsm_backends_are_identical(trained_tiny, batch):
    x, y = batch
    ta = create_attack("fgsm", eps=4 / 255, backend="torchattacks").perturb(trained_tiny.detector, x, y)
    nat = create_attack("fgsm", eps=4 / 255, backend="native").perturb(trained_tiny.detector, x, y)
    assert torch.allclose(ta, nat, atol=1e-6)


def test_native_pgd_matches_a_hand_written_loop(trained_tiny, batch):
    """The reference loop itself against the textbook formula (no random start)."""
    det, (x, y) = trained_tiny.detector, batch
    eps, alpha, steps = 4 / 255, 1 / 255, 5
    ours = _native.pgd(det, x, y, eps=eps, norm="linf", alpha=alpha, steps=steps, random_start=False,
                       first_adversarial=False)
    ref = x.clone()
    for _ in range(steps):
        ref.requires_grad_(True)
        grad, = torch.autograd.grad(torch.nn.functional.cross_entropy(det(ref), y, reduction="sum"), ref)
        ref = torch.min(torch.max(ref.detach() + alpha * grad.sign(), x - eps), x + eps).clamp(0, 1)
    assert torch.allclose(ours, ref, atol=1e-6)


def test_eps_zero_returns_the_input(trained_tiny, batch):
    x, y = batch
    assert torch.equal(create_attack("pgd", eps=0.0).perturb(trained_tiny.detector, x, y), x)


def test_parameters_are_frozen_during_and_restored_after(trained_tiny, batch):
    det, (x, y) = trained_tiny.detector, batch
    seen = []

    class Spy(Attack):
        name = "spy"

        def run(self, detector, x, y):
            seen.append(any(p.requires_grad for p in detector.parameters()))
            return x

    Spy(eps=0.1).perturb(det, x, y)
    assert seen == [False]
    assert all(p.requires_grad for p in det.parameters())


def test_an_attack_that_breaks_its_budget_is_caught(trained_tiny, batch):
    class Cheat(Attack):
        name = "cheat"

        def run(self, detector, x, y):
            return (x + 3 * self.eps).clamp(0, 1)

    with pytest.raises(BudgetError, match="exceeded its budget"):
        Cheat(eps=0.01).perturb(trained_tiny.detector, *batch)


@pytest.mark.parametrize("kwargs,message", [
    (dict(name="fgsm", eps=0.1, norm="l2"), "supports norms linf"),
    (dict(name="pgd", eps=0.1, backend="cleverhans"), "has backends"),
    (dict(name="pgd", eps=-1.0), "eps must be"),
    (dict(name="pgd", eps=8.0, norm="linf"), "covers the whole"),
    (dict(name="pgd", eps=0.1, steps=0), "steps must be"),
    (dict(name="pgd", eps=0.1, colour="red"), r"unknown parameter\(s\) colour; allowed: alpha"),
        (dict(name="pgd", eps=0.1, steps=2.5), "steps must be an integer, got 2.5"),
        (dict(name="pgd", eps=0.1, random_start=1), "random_start must be true or false"),
    (dict(name="cw", eps=0.1, norm="linf"), "supports norms l2"),
    (dict(name="apgd", eps=0.1, backend="art"), "has backends torchattacks"),
    (dict(name="pgd", eps=0.1, loss="margin"), "native backend only"),
    (dict(name="pgd", eps=0.1, schedule="cosine"), "native backend only"),
    (dict(name="pgd", eps=0.1, backend="native", schedule="linear"), "schedule must be one of constant, cosine"),
    (dict(name="square", eps=0.1, n_queries=0), "n_queries"),
    (dict(name="transfer", eps=0.1, surrogate="nope"), "unknown detector 'nope'"),
    (dict(name="transfer", eps=0.1, surrogate="test_tiny_cnn", base="square"), "white-box"),
    (dict(name="worst_case", eps=0.1, attacks=[]), "non-empty list"),
    (dict(name="worst_case", eps=0.1, attacks=[{"name": "cw"}]), "supports norms l2"),
    (dict(name="worst_case", eps=0.1, attacks=[{"name": "pgd", "eps": 0.5}]), "comes from the ensemble"),
    (dict(name="worst_case", eps=0.1, attacks=[{"name": "transfer", "surrogate": "test_tiny_cnn"}]),
     "own grid entry"),
    (dict(name="cw", eps=0.1, backend="torchattacks", binary_search_steps=5), "no binary search"),
])
def test_bad_attack_parameters_are_clear_errors(kwargs, message):
    name = kwargs.pop("name")
    with pytest.raises(ConfigError, match=message):
        create_attack(name, **kwargs)


def test_a_backend_that_is_not_installed_is_named_with_its_install_command(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "foolbox" else real(name, *a))
    with pytest.raises(ConfigError, match="pip install foolbox"):
        create_attack("pgd", eps=0.1, backend="foolbox")
