"""Every registered attack, by the registry, at every norm and backend it declares: its own
output stays inside the budget (checked before the harness's check could snap it back), it
perturbs and raises the loss, and the same seed gives the same output."""

import pytest
import torch

from dfbench.attacks import AttackKind, attacks, create_attack
from dfbench.attacks.base import BUDGET_TOLERANCE

# Parameters an attack cannot do without (or that keep it fast on 48 samples at 32x32); an
# attack not named here runs with its defaults.
PARAMS = {
    "transfer": {"surrogate": "test_tiny_cnn", "steps": 3},
    "worst_case": {"attacks": [{"name": "pgd", "steps": 3}, {"name": "pgd", "backend": "native", "loss": "margin",
                                                            "steps": 3}]},
    "pgd": {"steps": 5}, "apgd": {"steps": 5}, "square": {"n_queries": 50},
    "cw": {"steps": 10, "binary_search_steps": 1, "initial_const": 1.0},
}
SLOW = {("cw", "art")}  # ART's CW runs a numpy line search: minutes here
EPS = {"linf": 8 / 255, "l2": 1.0}


def _cases() -> list:
    cases = []
    for name in attacks.names():
        default = create_attack(name, eps=0.01, **PARAMS.get(name, {}))
        for norm in type(default).norms:
            for backend in type(default).backends:
                marks = [pytest.mark.slow] if (name, backend) in SLOW else []
                cases.append(pytest.param(name, norm, backend, id=f"{name}-{norm}-{backend}", marks=marks))
    return cases


def _attack(name, norm, backend, detector, seed=0):
    attack = create_attack(name, eps=EPS[norm], norm=norm, backend=backend, seed=seed, **PARAMS.get(name, {}))
    attack.prepare(lambda surrogate, params: detector)  # a transfer attack: the target's twin as surrogate
    return attack


@pytest.fixture(scope="module")
def batch(mini32):
    test = mini32["test"]
    return test.images[:48], test.labels[:48]


@pytest.mark.parametrize("name,norm,backend", _cases())
def test_the_attack_itself_keeps_its_budget_and_perturbs(trained_tiny, batch, name, norm, backend):
    x, y = batch
    det, eps = trained_tiny.detector, EPS[norm]
    attack = _attack(name, norm, backend, det)
    with attack.attacking(det, x) as model:  # the attack's own output, before check_budget
        raw = attack.run(model, x.detach(), y).detach()
    delta = (raw - x).flatten(1)
    size = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
    tol = BUDGET_TOLERANCE * max(1.0, eps)
    assert (size <= eps + tol).all(), float(size.max())
    assert raw.min() >= -tol and raw.max() <= 1 + tol
    if attack.kind == AttackKind.MINIMUM_NORM:  # as small as it can: it only has to move something
        assert size.max() > 0
    else:  # (a query attack returns only the samples it fooled: some are)
        assert size.max() > 0.5 * eps  # it did perturb
    loss = torch.nn.functional.cross_entropy
    with torch.no_grad():
        assert loss(det(raw), y) > loss(det(x), y)  # the attack raised the loss on average


@pytest.mark.parametrize("name,norm,backend", _cases())
def test_same_seed_same_output(trained_tiny, batch, name, norm, backend):
    x, y = batch
    det = trained_tiny.detector
    a = _attack(name, norm, backend, det, seed=7).perturb(det, x, y)
    b = _attack(name, norm, backend, det, seed=7).perturb(det, x, y)
    assert torch.equal(a, b)
