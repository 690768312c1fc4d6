"""AutoAttack's rule and early exit, and dfbench's own APGD against torchattacks' port of it.

A sample already fooled at the detector's threshold keeps its first adversarial and, with early
exit, takes no further steps: the decisions must be those of the same loop run to the end (one
that keeps first adversarials too), with fewer gradient passes.
"""

import math

import pytest
import torch

import dfbench
from dfbench.attacks import _apgd, _native, create_attack
from dfbench.attacks.base import FOOLED_MARGIN, AtThreshold, fooled, without_early_exit
from dfbench.defenses import create_defense, defend
from dfbench.detectors.counting import Counting


def decisions(det, x):
    with torch.no_grad():
        return det.predict(x)


@pytest.fixture(scope="module")
def data(mini32):
    test = mini32["test"]
    return test.images, test.labels


ATTACKS = [("pgd", dict(steps=20, backend="native")), ("pgd", dict(steps=20, backend="native", loss="margin")),
           ("apgd", dict(steps=20, backend="native")), ("apgd", dict(steps=20, backend="native", loss="margin")),
           ("pgd", dict(steps=10, backend="native", restarts=3, loss="margin"))]


@pytest.mark.parametrize("name,kw", ATTACKS, ids=lambda v: str(v))
@pytest.mark.parametrize("norm,eps", [("linf", 2 / 255), ("l2", 0.25)])
def test_early_exit_gives_the_same_decisions_with_fewer_passes(trained_cnn, data, name, kw, norm, eps):
    (x, y), det = data, trained_cnn.detector
    fast, full = Counting(det), Counting(det)
    x_fast = create_attack(name, eps=eps, norm=norm, seed=5, **kw).perturb(fast, x, y)
    with without_early_exit():
        x_full = create_attack(name, eps=eps, norm=norm, seed=5, **kw).perturb(full, x, y)
    assert torch.equal(decisions(det, x_fast), decisions(det, x_full))
    assert (decisions(det, x_fast) != y).float().mean() > 0.3  # a real attack here
    # with restarts, the samples no start fools are attacked to the end in both modes: less to save
    limit = 0.9 if kw.get("restarts", 1) > 1 else 0.8
    assert fast.grad_samples < limit * full.grad_samples, (fast.grad_samples, full.grad_samples)


def test_a_sample_wrong_on_clean_input_is_its_own_adversarial(trained_cnn, data):
    (x, y), det = data, trained_cnn.detector
    with torch.no_grad():
        wrong = fooled(AtThreshold.wrap(det)(x), y)  # clearly wrong, past FOOLED_MARGIN
    assert wrong.any() and (decisions(det, x)[wrong] != y[wrong]).all()
    for name, kw in ATTACKS[:3]:
        x_adv = create_attack(name, eps=8 / 255, seed=1, **kw).perturb(det, x, y)
        assert torch.equal(x_adv[wrong], x[wrong]), name


def test_first_adversarial_pgd_matches_a_hand_written_loop(trained_cnn, data):
    """Textbook PGD (no random start) that records each sample's first fooling iterate at the threshold
    and, for a sample never clearly fooled, its iterate of least margin (not the last)."""
    (x, y), det = data, trained_cnn.detector
    eps, alpha, steps = 2 / 255, 2 / 255, 8  # steps as large as the ball: iterates oscillate
    ours = _native.pgd(AtThreshold.wrap(det), x, y, eps=eps, norm="linf", alpha=alpha, steps=steps,
                       random_start=False)  # aimed at the threshold, as Attack.perturb aims it
    ref, first, least_x = x.clone(), x.clone(), x.clone()
    found = torch.zeros(len(x), dtype=torch.bool)
    least = torch.full((len(x),), float("inf"))
    shifted = AtThreshold.wrap(det)
    for step in range(steps + 1):
        with torch.no_grad():
            z = shifted(ref)  # a sample counts as fooled once its true logit trails by FOOLED_MARGIN
            m = (z.gather(1, y[:, None]) - z.gather(1, (1 - y)[:, None])).squeeze(1)
            new = (m < -FOOLED_MARGIN) & ~found
            lower = m < least
        first[new], found = ref[new], found | new
        least_x[lower], least[lower] = ref[lower], m[lower]
        if step == steps:
            break
        ref.requires_grad_(True)
        # the loss on the threshold-shifted logits, as the attack's: on a confident detector the unshifted
        # softmax saturates on other samples, and a zero gradient's sign differs from a tiny one's
        grad, = torch.autograd.grad(torch.nn.functional.cross_entropy(shifted(ref), y, reduction="sum"), ref)
        ref = torch.min(torch.max(ref.detach() + alpha * grad.sign(), x - eps), x + eps).clamp(0, 1)
    expected = torch.where(found.view(-1, 1, 1, 1), first, least_x)
    assert found.float().mean() > 0.3
    assert not torch.equal(least_x[~found], ref[~found])  # the rule matters here: some last iterates are not the least
    assert torch.allclose(ours, expected, atol=1e-6)


def test_restarts_keep_the_run_of_least_margin_for_samples_no_run_fooled():
    x, y = torch.zeros(3, 1), torch.zeros(3, dtype=torch.long)
    runs = iter([  # (x_adv, found, least margin) per run, on the samples still alive
        (torch.tensor([[1.0], [1.0], [1.0]]), torch.tensor([False, True, False]), torch.tensor([0.5, -1.0, 0.2])),
        (torch.tensor([[2.0], [2.0]]), torch.tensor([False, False]), torch.tensor([0.1, 0.3])),
    ])
    out = _native.with_restarts(lambda xs, ys: next(runs), x, y, restarts=2)
    assert out.squeeze(1).tolist() == [2.0, 1.0, 1.0]  # the second run's lower margin; the first's fool; the first's


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float64])
def test_native_loops_take_logits_of_any_float_dtype(dtype):
    """A wrapped model's logits pass through as they are: the least-margin record must not care."""
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2)).to(dtype).eval()
    det = dfbench.wrap(torch.nn.Sequential(_Cast(dtype), net), input_size=8)
    x, y = torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 0, 1])
    for name, kw in [("apgd", {}), ("pgd", {"loss": "margin", "restarts": 2})]:
        x_adv = create_attack(name, eps=2 / 255, backend="native", steps=3, **kw).perturb(det, x, y)
        assert x_adv.dtype == x.dtype and (x_adv - x).abs().max() <= 2 / 255 + 1e-6


class _Cast(torch.nn.Module):
    def __init__(self, dtype):
        super().__init__()
        self.dtype = dtype

    def forward(self, x):
        return x.to(self.dtype)


def test_cosine_schedule_matches_a_hand_written_loop(trained_cnn, data):
    """Margin PGD whose step anneals from 2 eps to 0 (``schedule="cosine"``), run to the end (no first
    adversarial kept): the last iterate of a loop written here from the same start."""
    (x, y), det = data, trained_cnn.detector
    eps, steps = 2 / 255, 6
    shifted = AtThreshold.wrap(det)
    torch.manual_seed(3)
    ours = _native.pgd(shifted, x, y, eps=eps, norm="linf", alpha=2 * eps, steps=steps, random_start=True,
                       loss="margin", schedule="cosine", first_adversarial=False)
    torch.manual_seed(3)
    ref = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    for t in range(steps):
        ref.requires_grad_(True)
        z = shifted(ref)
        margin = (z.gather(1, y[:, None]) - z.gather(1, (1 - y)[:, None])).sum()
        grad, = torch.autograd.grad(-margin, ref)
        size = 2 * eps * (1 + math.cos(math.pi * t / steps)) / 2  # 2 eps, ..., 2 eps (1 + cos(5 pi / 6)) / 2
        ref = torch.min(torch.max(ref.detach() + size * grad.sign(), x - eps), x + eps).clamp(0, 1)
    assert (decisions(det, ours) != y).float().mean() > 0.3
    assert torch.allclose(ours, ref, atol=1e-6)
    attack = create_attack("pgd", eps=eps, backend="native", loss="margin", schedule="cosine", steps=steps)
    assert attack.alpha == 2 * eps and attack.params()["schedule"] == "cosine"
    assert "schedule" not in create_attack("pgd", eps=eps, backend="native").params()  # old cell keys kept


@pytest.mark.parametrize("norm,eps", [("linf", 2 / 255), ("linf", 8 / 255), ("l2", 0.5)])
def test_native_apgd_agrees_with_torchattacks_apgd(trained_cnn, data, norm, eps):
    """The same algorithm (Croce & Hein 2020), written twice: within 4 samples of 160."""
    (x, y), det = data, trained_cnn.detector
    accs = {b: (decisions(det, create_attack("apgd", eps=eps, norm=norm, steps=20, backend=b, seed=0)
                          .perturb(det, x, y)) == y).float().mean().item() for b in ("native", "torchattacks")}
    clean = (decisions(det, x) == y).float().mean().item()
    assert accs["native"] < clean - 0.1, accs
    assert abs(accs["native"] - accs["torchattacks"]) <= 4 / len(y), accs


def test_apgd_step_size_schedule_is_autoattacks():
    # auto-attack's apgd: first check after 22% of the steps, intervals shrink by 3% down to 6%
    assert _apgd._checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]


def test_margin_loss_keeps_working_where_softmax_saturates(trained_cnn, data):
    """Logits scaled by 1e4 (same decisions): cross-entropy's gradient underflows, the margin's does not."""
    (x, y), det = data, trained_cnn.detector

    class Saturated(torch.nn.Module):
        def forward(self, inp):
            return det(inp) * 1e4

    model = Saturated().eval()
    kw = dict(eps=2 / 255, norm="linf", steps=20, early_exit=False)
    x_ce, x_mg = _apgd.apgd(model, x, y, loss="ce", **kw), _apgd.apgd(model, x, y, loss="margin", **kw)
    with torch.no_grad():
        ce, mg = (fooled(model(x_a), y).float().mean().item() for x_a in (x_ce, x_mg))
    assert mg > ce + 0.1, (ce, mg)


def test_a_randomized_defense_keeps_the_last_iterate_and_attacks_to_the_end(trained_cnn, data):
    """A draw that fools a randomized defense says little of the next: no first adversarial, no early exit."""
    (x, y), det = data, trained_cnn.detector
    defended = defend(det, create_defense("random_resize_pad", scale=1.15))
    assert defended.randomized and not det.randomized
    attack = create_attack("pgd", eps=4 / 255, steps=5, backend="native")
    assert not attack.keeps_first_adversarial(defended) and attack.keeps_first_adversarial(det)
    counter = Counting(defended)
    attack.perturb(counter, x, y)
    assert counter.grad_samples == 5 * len(x)


def test_restarts_attack_only_the_survivors(trained_cnn, data):
    (x, y), det = data, Counting(trained_cnn.detector)
    create_attack("pgd", eps=1 / 255, steps=5, backend="native", restarts=3, seed=0).perturb(det, x, y)
    assert det.grad_samples < 3 * 5 * len(x)
    with pytest.raises(ValueError, match="native backend only"):
        create_attack("pgd", eps=1 / 255, restarts=2, backend="torchattacks")
    with pytest.raises(ValueError, match="native backend only"):
        create_attack("apgd", eps=1 / 255, loss="margin", backend="torchattacks")


def test_first_adversarials_are_fooled_as_the_benchmark_scores_even_when_saturated(trained_cnn, data):
    """A distilled-like detector (logits x 50) with a threshold a float32 step below 1 (as calibration
    on saturated scores gives): a first adversarial must be fooled by the scoring rule itself, so the
    rule never leaves a sample that the attack run to its last step would have broken."""
    (x, y), det = data, trained_cnn.detector

    class Saturated(torch.nn.Module):
        def forward(self, inp):
            return det(inp) * 50

    sat = dfbench.wrap(Saturated().eval(), input_size=32)
    sat.threshold = 1 - 2 ** -22  # 0.99999976, a distilled detector's calibrated threshold here
    first = create_attack("pgd", eps=4 / 255, steps=10, backend="native", loss="margin", seed=0)
    last = create_attack("pgd", eps=4 / 255, steps=10, backend="native", loss="margin", seed=0)
    last.first_adversarial = False
    broken_first = decisions(sat, first.perturb(sat, x, y)) != y
    broken_last = decisions(sat, last.perturb(sat, x, y)) != y
    assert broken_last.float().mean() > 0.3
    assert (broken_first | ~broken_last).all(), int((broken_last & ~broken_first).sum())


def test_cw_sweep_stops_a_sample_within_the_smallest_budget_with_the_same_decisions(trained_cnn, data):
    """A minimum-norm attack's early exit: a sample whose example lies within every budget is searched
    no further; each budget's decisions are those of the search run to the end."""
    (x, y), det = data, trained_cnn.detector
    eps = [0.25, 0.5, 1.0]
    kw = dict(steps=25, binary_search_steps=3, initial_const=1.0, seed=0, stop_at_budget=True)
    fast, full = Counting(det), Counting(det)
    x_fast = create_attack("cw", eps=eps[0], **kw).sweep(fast, x, y, eps)
    with without_early_exit():
        x_full = create_attack("cw", eps=eps[0], **kw).sweep(full, x, y, eps)
    for a, b in zip(x_fast, x_full):
        assert torch.equal(decisions(det, a), decisions(det, b))
    clean_wrong = (decisions(det, x) != y).float().mean()
    assert (decisions(det, x_fast[0]) != y).float().mean() > clean_wrong + 0.1  # a real attack at 0.25
    assert fast.grad_samples < 0.8 * full.grad_samples, (fast.grad_samples, full.grad_samples)
    # the default, stop_at_budget = false, searches every sample to the end: the smallest examples
    searched = create_attack("cw", eps=eps[0], **{**kw, "stop_at_budget": False}).sweep(det, x, y, eps)
    assert all(torch.equal(a, b) for a, b in zip(searched, x_full))
    assert not all(torch.equal(a, b) for a, b in zip(x_fast, x_full))
    assert "stop_at_budget" not in create_attack("cw", eps=0.5).params()  # keys of existing cells unchanged
    with pytest.raises(ValueError, match="native backend only"):
        create_attack("cw", eps=0.5, backend="foolbox", stop_at_budget=True)


def test_cw_rows_that_never_stop_search_as_in_the_whole_batch(trained_cnn, data):
    """Samples dropped mid-search take their Adam moments with them: the others' examples are those
    of the whole-batch search (to float rounding of a smaller batch)."""
    (x, y), det = data, AtThreshold.wrap(trained_cnn.detector)
    kw = dict(steps=25, binary_search_steps=2, lr=0.01, confidence=0.0, initial_const=1.0)
    full = _native.cw_l2(det, x, y, **kw)
    norms = (full - x).flatten(1).norm(dim=1)
    broken = norms > 0
    stop = norms[broken].median().item()
    early = _native.cw_l2(det, x, y, stop_below=stop, **kw)
    early_norms = (early - x).flatten(1).norm(dim=1)
    searched_on = (early_norms > stop) | (early_norms == 0)  # never dropped: outside the stop, or never fooled
    dropped = ~searched_on
    assert 0.2 < dropped.float().mean() < 0.8
    assert torch.allclose(early[searched_on], full[searched_on], atol=1e-5)
    with torch.no_grad():  # a dropped sample's example clearly fools the detector
        assert fooled(det(early[dropped]), y[dropped], det).all()
