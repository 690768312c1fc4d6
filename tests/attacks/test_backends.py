"""The library backends against each other and against dfbench's native reference loops.

On custom_cnn trained on `mini` at 32x32 (160 test samples), robust accuracy at the
detector's calibrated threshold:
- FGSM is deterministic: all four backends agree to one sample;
- PGD starts at random points: all four agree within TOLERANCE (4 samples of 160);
- CW-L2 (minimum norm) reaches a lower robust accuracy than FGSM at the same mean L2 norm.
"""

import pytest
import torch

from dfbench.attacks import create_attack
from dfbench.attacks.base import without_early_exit

TOLERANCE = 4 / 160
BACKENDS = ["native", "torchattacks", "art", "foolbox"]


def robust_acc(det, x_adv, y):
    with torch.no_grad():
        return (det.predict(x_adv) == y).float().mean().item()


@pytest.fixture(scope="module")
def data(mini32):
    test = mini32["test"]
    return test.images, test.labels


def test_fgsm_backends_agree(trained_cnn, data):
    det, (x, y) = trained_cnn.detector, data
    outs = {b: create_attack("fgsm", eps=4 / 255, backend=b).perturb(det, x, y) for b in BACKENDS}
    accs = {b: robust_acc(det, o, y) for b, o in outs.items()}
    assert accs["native"] < robust_acc(det, x, y) - 0.2, accs  # it is a real attack here
    for b in BACKENDS:
        assert abs(accs[b] - accs["native"]) <= 1 / len(y), accs
        # the same signed step: at most a few pixels differ (gradient signs at float noise level)
        assert ((outs[b] - outs["native"]).abs() > 1e-5).float().mean() < 1e-3, b


@pytest.mark.parametrize("norm,eps", [("linf", 2 / 255), ("l2", 0.25)])
def test_pgd_backends_agree_with_the_native_reference(trained_cnn, data, norm, eps):
    det, (x, y) = trained_cnn.detector, data
    accs = {b: robust_acc(det, create_attack("pgd", eps=eps, norm=norm, backend=b, steps=10).perturb(det, x, y), y)
            for b in BACKENDS}
    assert accs["native"] < robust_acc(det, x, y) - 0.2, accs
    for b in BACKENDS:
        assert abs(accs[b] - accs["native"]) <= TOLERANCE, accs


CW = dict(steps=30, binary_search_steps=3, initial_const=1.0)
CW_SAMPLES = 64  # CW costs steps x binary_search_steps forward+backward passes


@pytest.fixture(scope="module")
def cw_examples(trained_cnn, data):
    """Unbounded CW-L2 examples per backend, computed once: backend -> x_cw."""
    det, (x, y) = trained_cnn.detector, data
    cache = {}

    def get(backend):
        if backend not in cache:
            kw = {k: v for k, v in CW.items() if backend != "torchattacks" or k != "binary_search_steps"}
            with without_early_exit():  # the search to its end: the smallest norms it can find
                cache[backend] = create_attack("cw", eps=10.0, backend=backend, **kw).perturb(
                    det, x[:CW_SAMPLES], y[:CW_SAMPLES])
        return cache[backend]

    return get


@pytest.mark.parametrize("backend", ["native", "torchattacks", "foolbox",
                                     pytest.param("art", marks=pytest.mark.slow)])
def test_cw_beats_fgsm_at_the_same_mean_l2(trained_cnn, data, cw_examples, backend):
    """CW finds smaller perturbations: at CW's own mean L2, FGSM (whose L2 is about
    eps * sqrt(d)) leaves more samples correctly classified."""
    det = trained_cnn.detector
    x, y = data[0][:CW_SAMPLES], data[1][:CW_SAMPLES]
    x_cw = cw_examples(backend)
    assert (det.predict(x_cw) != y).float().mean() > 0.5, "CW should fool most samples at an unbounded budget"
    l2_cw = (x_cw - x).flatten(1).norm(dim=1).mean().item()
    lo, hi = 0.0, 1.0  # FGSM's L-inf eps with the same mean L2, by bisection on the real (clipped) norms
    for _ in range(25):
        mid = (lo + hi) / 2
        x_f = create_attack("fgsm", eps=mid, backend="native").perturb(det, x, y)
        lo, hi = (mid, hi) if (x_f - x).flatten(1).norm(dim=1).mean().item() < l2_cw else (lo, mid)
    x_f = create_attack("fgsm", eps=lo, backend="native").perturb(det, x, y)
    assert robust_acc(det, x_cw, y) < robust_acc(det, x_f, y) - 0.1


def test_native_cw_and_foolbox_cw_find_similar_norms(trained_cnn, data, cw_examples):
    """Same algorithm (binary search on c, Adam in tanh space): the share of samples broken
    within each L2 budget agrees within 4 of 64 samples."""
    det = trained_cnn.detector
    x, y = data[0][:CW_SAMPLES], data[1][:CW_SAMPLES]
    broken = {}
    for b in ("native", "foolbox"):
        x_cw = cw_examples(b)
        norm = (x_cw - x).flatten(1).norm(dim=1)
        broken[b] = [((det.predict(x_cw) != y) & (norm <= e)).float().mean().item() for e in (0.1, 0.2, 0.4)]
    for a, b in zip(broken["native"], broken["foolbox"]):
        assert abs(a - b) <= 4 / CW_SAMPLES, broken


def test_cw_at_a_budget_stays_inside_it_and_keeps_what_it_found(trained_cnn, data, cw_examples, monkeypatch):
    from dfbench.attacks.cw import CWL2

    det = trained_cnn.detector
    x, y = data[0][:CW_SAMPLES], data[1][:CW_SAMPLES]
    x_cw = cw_examples("native")
    monkeypatch.setattr(CWL2, "minimum_norm", lambda self, d, xx, yy, smallest_budget=-1.0: x_cw)
    norm = (x_cw - x).flatten(1).norm(dim=1)
    fooled = det.predict(x_cw) != y
    for eps in (0.1, 0.3):
        attack = create_attack("cw", eps=eps)
        attack.first_adversarial = False  # minimum_norm above returns the whole batch's examples
        x_adv = attack.perturb(det, x, y)
        assert (x_adv - x).flatten(1).norm(dim=1).max() <= eps * (1 + 1e-5)
        within = fooled & (norm <= eps)  # found inside the budget: kept as is
        assert torch.allclose(x_adv[within], x_cw[within], atol=1e-6)
        assert torch.equal(x_adv[~fooled], x[~fooled])  # nothing found: the clean input
        assert (det.predict(x_adv[within]) != y[within]).all()


def test_the_torchattacks_cw_fix_keeps_softmax_and_margins(trained_cnn, data):
    from dfbench.attacks._torchattacks import _MinLogitZero

    det, (x, _) = trained_cnn.detector, data
    with torch.no_grad():
        z, shifted = det(x), _MinLogitZero(det)(x)
    assert (shifted >= 0).all() and (shifted.min(1).values == 0).all()
    assert torch.allclose(z.softmax(1), shifted.softmax(1), atol=1e-6)
    assert torch.allclose(z[:, 1] - z[:, 0], shifted[:, 1] - shifted[:, 0], atol=1e-5)


def test_torchattacks_cw_needs_the_fix_when_logits_are_negative(trained_cnn, data):
    """On a model whose logits are all negative (same decisions), raw torchattacks CW
    compares the true logit with max(0, other) and barely moves; through the adapter it works."""
    import torchattacks

    from dfbench.attacks import _torchattacks

    det = trained_cnn.detector
    x, y = data[0][:CW_SAMPLES], data[1][:CW_SAMPLES]

    class Negative(torch.nn.Module):
        def forward(self, inp):
            z = det(inp)
            return z - z.max(1, keepdim=True).values - 1

    neg = Negative().eval()
    kw = dict(steps=30, lr=0.01)
    raw = torchattacks.CW(neg, c=1.0, kappa=0, **kw)(x, y)
    fixed = _torchattacks.cw_l2(neg, x, y, binary_search_steps=1, confidence=0.0, initial_const=1.0, **kw)
    with torch.no_grad():
        raw_fooled = (neg(raw).argmax(1) != y).float().mean().item()
        fixed_fooled = (neg(fixed).argmax(1) != y).float().mean().item()
    assert fixed_fooled > raw_fooled + 0.2, (fixed_fooled, raw_fooled)


def test_one_cw_run_serves_every_eps_of_a_sweep(trained_cnn, data):
    """Run to the end, one sweep gives each eps's examples exactly; with stop_at_budget (each single run
    stops at its own eps, the sweep at its smallest above 0) the examples differ but not the decisions."""
    det = trained_cnn.detector
    x, y = data[0][:32], data[1][:32]
    kw = dict(steps=20, binary_search_steps=2, initial_const=1.0)
    with without_early_exit():
        swept = create_attack("cw", eps=0.1, **kw).sweep(det, x, y, [0.3, 0.1])
        for eps, out in zip([0.3, 0.1], swept):
            assert torch.equal(out, create_attack("cw", eps=eps, **kw).perturb(det, x, y))
    kw["stop_at_budget"] = True
    swept = create_attack("cw", eps=0.1, **kw).sweep(det, x, y, [0.3, 0, 0.1])
    for eps, out in zip([0.3, 0, 0.1], swept):
        assert torch.equal(det.predict(out), det.predict(create_attack("cw", eps=eps, **kw).perturb(det, x, y)))
