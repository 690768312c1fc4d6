"""Composite attacks: transfer from a surrogate, and the worst-case cascade."""

import pytest
import torch

from dfbench.attacks import create_attack
from dfbench.detectors.counting import Counting


def correct(det, x, y):
    with torch.no_grad():
        return det.predict(x) == y


@pytest.fixture(scope="module")
def data(mini32):
    test = mini32["test"]
    return test.images[:96], test.labels[:96]


def test_transfer_from_the_target_itself_is_the_white_box_attack(trained_cnn, data):
    det, (x, y) = trained_cnn.detector, data
    white_box = create_attack("pgd", eps=4 / 255, steps=5, seed=3)
    white_box.first_adversarial = False  # a transfer attack's base attacks every sample to the end
    white = white_box.perturb(det, x, y)
    transfer = create_attack("transfer", eps=4 / 255, surrogate=det, steps=5, seed=3)
    assert torch.equal(transfer.perturb(trained_cnn.detector, x, y), white)


def test_transfer_never_queries_the_target(trained_cnn, trained_tiny, data):
    (x, y), target = data, Counting(trained_cnn.detector)
    attack = create_attack("transfer", eps=4 / 255, surrogate=trained_tiny.detector, steps=5)
    x_adv = attack.perturb(target, x, y)
    assert target.forward_samples == 0
    assert (x_adv - x).abs().max() <= 4 / 255 + 1e-6


def test_a_named_surrogate_is_resolved_by_the_harness(trained_tiny, data):
    x, y = data
    attack = create_attack("transfer", eps=4 / 255, surrogate="test_tiny_cnn", surrogate_seed=5, steps=3)
    with pytest.raises(RuntimeError, match="not resolved"):
        attack.perturb(trained_tiny.detector, x, y)
    asked = []
    attack.prepare(lambda name, params: asked.append((name, params)) or trained_tiny.detector)
    attack.perturb(trained_tiny.detector, x, y)
    assert asked == [("test_tiny_cnn", {"seed": 5})]
    assert attack.params()["surrogate_seed"] == 5 and attack.params()["base"] == "pgd"


MEMBERS = [{"name": "fgsm", "backend": "native"},
           {"name": "pgd", "backend": "native", "steps": 5, "random_start": False},
           {"name": "pgd", "backend": "native", "steps": 5, "random_start": False, "loss": "margin"}]
EPS = [1 / 255, 2 / 255, 4 / 255]


def naive_worst_case(det, x, y):
    """Every member on every sample at every eps, then worst case and monotone in eps."""
    alive = correct(det, x, y)
    rows = []
    for eps in EPS:
        for spec in MEMBERS:
            spec = dict(spec)
            alive = alive & correct(det, create_attack(spec.pop("name"), eps=eps, **spec).perturb(det, x, y), y)
        rows.append(alive.clone())
    return rows


def test_the_cascade_gives_the_naive_numbers_with_fewer_passes(trained_cnn, data):
    (x, y), det = data, trained_cnn.detector
    naive_counter = Counting(det)
    naive = naive_worst_case(naive_counter, x, y)
    counter = Counting(det)
    outs = create_attack("worst_case", eps=EPS[0], attacks=MEMBERS).sweep(counter, x, y, EPS)
    for eps, out, expected in zip(EPS, outs, naive):
        assert (out - x).abs().max() <= eps + 1e-6
        assert torch.equal(correct(det, out, y), expected), eps
    assert expected.float().mean() < correct(det, x, y).float().mean()  # the attacks did work
    assert counter.grad_samples < 0.7 * naive_counter.grad_samples, (counter.grad_samples,
                                                                     naive_counter.grad_samples)


def test_worst_case_is_at_most_every_member(trained_cnn, data):
    (x, y), det = data, trained_cnn.detector
    eps = 2 / 255
    worst = correct(det, create_attack("worst_case", eps=eps, attacks=MEMBERS).perturb(det, x, y), y)
    for spec in MEMBERS:
        spec = dict(spec)
        member = correct(det, create_attack(spec.pop("name"), eps=eps, **spec).perturb(det, x, y), y)
        assert (worst <= member).all()


class MeanScore(torch.nn.Module):
    """Two logits ``(0, 100 (mean pixel - 0.5))``: the margin of a real image is set by its mean."""

    def forward(self, x):
        s = 100 * (x.mean(dim=(1, 2, 3)) - 0.5)
        return torch.stack([torch.zeros_like(s), s], dim=1)


def test_a_sample_fooled_by_a_hair_is_left_to_the_next_members(monkeypatch):
    """A flip by less than FOOLED_MARGIN (which another batch might not reproduce) does not end a
    sample's attack: the next member tries it, and the example of least margin is kept."""
    import dfbench

    det = dfbench.wrap(MeanScore().eval(), input_size=4)
    x, y = torch.full((2, 3, 4, 4), 0.45), torch.zeros(2, dtype=torch.long)  # real, margin 5
    attack = create_attack("worst_case", eps=0.2, attacks=MEMBERS[:2])
    seen = []
    first = torch.stack([torch.full((3, 4, 4), 0.500001), torch.full((3, 4, 4), 0.6)])  # margins -1e-4 and -10
    last = torch.full((1, 3, 4, 4), 0.55)  # margin -5
    monkeypatch.setattr(attack.members[0], "perturb", lambda d, xs, ys: first[: len(xs)].clone())
    monkeypatch.setattr(attack.members[1], "perturb", lambda d, xs, ys: seen.append(len(xs)) or last.clone())
    out = attack.perturb(det, x, y)
    assert seen == [1]  # only the sample fooled by a hair went on to the second member
    assert torch.allclose(out[0], last[0]) and torch.allclose(out[1], first[1])


def test_sweep_order_of_eps_does_not_matter(trained_cnn, data):
    (x, y), det = data, trained_cnn.detector
    attack = create_attack("worst_case", eps=EPS[0], attacks=MEMBERS)
    forward = attack.sweep(det, x, y, EPS)
    backward = attack.sweep(det, x, y, EPS[::-1])[::-1]
    for a, b in zip(forward, backward):
        assert torch.equal(a, b)


def test_against_a_randomized_detector_every_member_attacks_every_sample_at_every_eps(monkeypatch):
    """The draw that scores a randomized detector is not the one that fooled it: no sample drops out
    when a member fools it, and none is carried as fooled to the next eps (behind a random resize,
    that left 0.306 of custom_cnn robust at 8/255 where a 30-step EOT PGD leaves 0.006)."""
    import dfbench
    from dfbench.defenses import create_defense, defend

    det = defend(dfbench.wrap(MeanScore().eval(), input_size=8), create_defense("random_resize_pad", scale=1.15))
    assert det.randomized
    x, y = torch.full((3, 3, 8, 8), 0.55), torch.ones(3, dtype=torch.long)  # fakes, margin 5
    attack = create_attack("worst_case", eps=0.2, attacks=MEMBERS[:2])
    seen = []
    for member in attack.members:  # the sweep builds each eps's members afresh from the spec
        monkeypatch.setattr(type(member), "perturb", lambda self, d, xs, ys: seen.append(len(xs)) or
                            xs - self.eps)  # a mean of 0.45 or less (padding lowers it): fooled on every draw
    attack.sweep(det, x, y, [0.1, 0.2])
    assert seen == [3, 3, 3, 3]
    seen.clear()
    attack.sweep(dfbench.wrap(MeanScore().eval(), input_size=8), x, y, [0.1, 0.2])  # deterministic: the cascade
    assert seen == [3]
