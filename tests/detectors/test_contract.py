"""Contract tests run over every registered detector at a small input size."""

import pytest
import torch

from dfbench.detectors import Detector, create_detector, detectors

SIZE = 32


@pytest.fixture(params=detectors.names())
def detector(request) -> Detector:
    torch.manual_seed(0)
    return create_detector(request.param, input_size=(SIZE, SIZE)).eval()


def test_output_is_two_finite_logits(detector):
    x = torch.rand(3, 3, SIZE, SIZE)
    out = detector(x)
    assert out.shape == (3, 2)
    assert torch.isfinite(out).all()


def test_score_is_softmax_probability_of_fake(detector):
    x = torch.rand(4, 3, SIZE, SIZE)
    score = detector.score(x)
    assert score.shape == (4,)
    assert torch.allclose(score, detector(x).softmax(1)[:, 1])
    assert ((score >= 0) & (score <= 1)).all()


def test_gradients_reach_the_input(detector):
    x = torch.rand(2, 3, SIZE, SIZE, requires_grad=True)
    detector(x)[:, 1].sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0


def test_eval_mode_is_deterministic(detector):
    x = torch.rand(2, 3, SIZE, SIZE)
    assert torch.equal(detector(x), detector(x))


def test_single_logit_head_is_adapted_to_sigmoid():
    z = torch.randn(5, 1)
    two = Detector.two_logits(z)
    assert two.shape == (5, 2)
    assert torch.allclose(two.softmax(1)[:, 1], torch.sigmoid(z[:, 0]))


def test_hybrid_has_the_papers_size_at_128():
    # Al-Dulaimi & Kurnaz report about 4.7M parameters at 128x128
    n = sum(p.numel() for p in create_detector("hybrid_cnn_lstm_model2", input_size=(128, 128)).parameters())
    assert 3.5e6 < n < 5.5e6


def test_hybrid_rejects_sizes_not_divisible_by_16():
    from dfbench.errors import ConfigError

    with pytest.raises(ConfigError, match="divisible by 16"):
        create_detector("hybrid_cnn_lstm_model0", input_size=(40, 40))
