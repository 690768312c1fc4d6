"""The binarization test (Zimmermann et al., NeurIPS 2022): its construction, and that it tells a weak
evaluation (a one-step attack, a gradient-masking defense attacked naively) from a sound one."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from dfbench.attacks import create_attack
from dfbench.audit import Binarized, NotAuditable, binarization_test
from dfbench.audit.binarization import ball_points, fit_readout, set_readout
from dfbench.audit.run import audit_view
from dfbench.benchmark.cells import DefenseSpec
from dfbench.cli import app
from dfbench.detectors import create_detector

EPS = 8 / 255


@pytest.fixture(scope="module")
def correct(trained_cnn, mini32):
    """custom_cnn (32 px), 10 test samples it classifies correctly and their labels."""
    det = trained_cnn.detector.eval()
    test = mini32["test"]
    with torch.no_grad():
        right = det.predict(test.images[:60]) == test.labels[:60]
    return det, test.images[:60][right][:10], test.labels[:60][right][:10]


def test_the_original_readout_gives_the_detectors_logits_back(trained_cnn):
    """Binarized reads what the last linear layer reads: custom_cnn's one-logit head as [0, z]."""
    det = trained_cnn.detector.eval()
    b = Binarized(det).eval()
    last = det.head[-1]
    b.weight = torch.cat([torch.zeros_like(last.weight), last.weight.detach()])
    b.bias = torch.cat([torch.zeros(1), last.bias.detach()])
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(b(x), det(x), atol=1e-5)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_inner_points_lie_within_095_eps_and_the_boundary_point_within_eps(norm):
    x = torch.rand(3, 16, 16) * 0.8 + 0.1
    eps = EPS if norm == "linf" else 0.5
    inner, boundary = ball_points(x, eps, norm, 200, torch.Generator().manual_seed(0))
    dist = (lambda t: (t - x).flatten(1).abs().amax(1)) if norm == "linf" else (lambda t: (t - x).flatten(1).norm(dim=1))
    assert (dist(inner) <= 0.95 * eps + 1e-6).all() and inner.min() >= 0 and inner.max() <= 1
    assert dist(boundary)[0] == pytest.approx(eps, rel=1e-5)  # x is away from 0 and 1: nothing clipped
    if norm == "linf":  # a corner: every pixel moved by eps
        assert torch.allclose((boundary[0] - x).abs(), torch.full_like(x, EPS), atol=1e-6)


def test_the_readout_separates_and_the_shift_leaves_the_boundary_point_barely_outside():
    g = torch.Generator().manual_seed(0)
    inner, boundary = torch.randn(300, 5, generator=g).numpy(), (torch.ones(1, 5) * 4).numpy()
    w, b = fit_readout(inner, boundary)
    margin = float(boundary[0] @ w + b)
    assert margin > 0 and (inner @ w + b < 0).all()
    holder = Binarized(create_detector("test_tiny_cnn"))
    set_readout(holder, w, b, margin, 0.999, logit_range=10.0)
    f = torch.tensor(boundary, dtype=torch.float32)
    logits = torch.nn.functional.linear(f, holder.weight, holder.bias)
    assert float(logits[0, 1] - logits[0, 0]) == pytest.approx(0.001 * 10.0, rel=1e-3)  # (1 - closeness) x range
    assert fit_readout(inner, inner[:1]) is None  # an inner point cannot be separated from itself


def test_a_one_step_tiny_attack_fails_and_apgd_on_the_margin_passes(correct):
    det, x, _ = correct
    weak = create_attack("pgd", eps=EPS, norm="linf", steps=1, alpha=EPS / 100, random_start=False)
    strong = create_attack("apgd", eps=EPS, norm="linf", backend="native", steps=20, loss="margin")
    failed = binarization_test(det, [weak], x, "linf", EPS, n_inner=199)
    passed = binarization_test(det, [strong], x, "linf", EPS, n_inner=199)
    assert failed.testable >= 8 and failed.successes == 0 and failed.fails
    assert passed.testable >= 8 and passed.successes == passed.testable and not passed.fails


def test_jpeg_attacked_naively_fails_and_with_bpda_passes(correct):
    """JPEG's rounding masks the gradient: the naive attack finds nothing although an adversarial example
    provably exists; the adaptive attack (BPDA, as the board's adaptive row) finds them."""
    det, x, y = correct
    jpeg = DefenseSpec((("jpeg", {"quality": 75}),))
    attack = create_attack("apgd", eps=EPS, norm="linf", backend="native", steps=20, loss="margin")
    views = {adaptive: audit_view(det, jpeg, adaptive, [attack], x, y, "linf", EPS, 10, 199, 0.999, 0)
             for adaptive in (False, True)}
    assert views[False].fails and views[False].successes == 0
    assert not views[True].fails and views[True].success_rate >= 0.9


def test_a_detector_without_the_hook_is_not_audited_and_an_unseparable_sample_not_testable():
    from dfbench.detectors.base import Detector

    class NoHook(Detector):
        def classify(self, z):
            return torch.stack([z.mean((1, 2, 3)), -z.mean((1, 2, 3))], 1)

    attack = create_attack("fgsm", eps=EPS, norm="linf")
    x = torch.rand(2, 3, 8, 8)
    with pytest.raises(NotAuditable, match="no penultimate"):
        binarization_test(NoHook((8, 8)), [attack], x, "linf", EPS, n_inner=20)

    class Constant(NoHook):
        def penultimate(self, z):
            return torch.ones(len(z), 4)  # every point has the same features: nothing separates

    result = binarization_test(Constant((8, 8)), [attack], x, "linf", EPS, n_inner=20)
    assert result.testable == 0 and result.successes == 0 and not result.fails
    assert "no testable sample of 2" in result.line()


def test_the_cli_audits_every_view_and_exits_1_on_a_failed_test(tmp_path, monkeypatch, trained_cnn):
    monkeypatch.chdir(tmp_path)
    grid = tmp_path / "g.toml"
    grid.write_text('name = "g"\nseed = 0\nbatch_size = 48\n[data]\ndataset = "mini"\nimage_size = 32\n'
                    'max_samples = 48\n[[detectors]]\nname = "test_tiny_cnn"\n[[attacks]]\nname = "pgd"\n'
                    'steps = 1\nalpha = 0.0001\nrandom_start = false\neps = ["8/255"]\n')
    cli, env = CliRunner(), {"DFBENCH_CACHE": str(tmp_path / "cache")}
    ran = cli.invoke(app, ["audit", "--grid", str(grid), "--n", "6", "--n-inner", "50", "--out", "a.json"], env=env)
    assert ran.exit_code == 1, ran.output
    assert "test_tiny_cnn undefended: binarization test linf 0.03137" in ran.output and "FAILS" in ran.output
    import json

    record = json.loads((tmp_path / "a.json").read_text())[0]
    assert record["fails_binarization_test"] and record["attacks"] == ["pgd"]
    for args, message in ((["--norm", "l3"], "--norm must be linf or l2"), (["--n", "0"], "--n must be >= 1"),
                          (["--eps", "1/255"], "no attack at linf eps 0.00392")):
        bad = cli.invoke(app, ["audit", "--grid", str(grid), *args], env=env)
        assert bad.exit_code == 2 and message in bad.output.strip().splitlines()[-1], bad.output
