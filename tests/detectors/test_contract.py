"""Contract tests run over every registered detector at a small input size."""

import pytest
import torch

from dfbench.detectors import Detector, create_detector, detectors
from dfbench.detectors.public import LAYOUTS

SIZE = 32
FRAMES = 3  # clip length for video detectors


@pytest.fixture(params=detectors.names(), scope="module")
def detector(request) -> Detector:
    torch.manual_seed(0)
    params = SMALL.get(request.param, {})
    return create_detector(request.param, input_size=(SIZE, SIZE) if request.param not in FIXED else None,
                           **params).eval()


FIXED = {name for name, layout in LAYOUTS.items() if layout.fixed_size}  # these run at their project's size only
SMALL = {"univfd_clip_vitl14": {"resolution": 28, "width": 64, "layers": 2, "heads": 2}}  # ViT-L's code, narrow


def batch(detector: Detector, n: int, **kwargs) -> torch.Tensor:
    """``n`` random inputs of the detector's modality: images or clips of FRAMES frames."""
    layout = getattr(detector, "layout", None)
    h, w = detector.input_size if layout is not None and layout.fixed_size else (SIZE, SIZE)
    shape = (n, 3, h, w) if detector.modality == "image" else (n, FRAMES, 3, h, w)
    return torch.rand(shape, **kwargs)


def test_output_is_two_finite_logits(detector):
    out = detector(batch(detector, 3))
    assert out.shape == (3, 2)
    assert torch.isfinite(out).all()


def test_score_is_softmax_probability_of_fake(detector):
    x = batch(detector, 4)
    score = detector.score(x)
    assert score.shape == (4,)
    assert torch.allclose(score, detector(x).softmax(1)[:, 1])
    assert ((score >= 0) & (score <= 1)).all()


def test_gradients_reach_the_input(detector):
    x = batch(detector, 2, requires_grad=True)
    detector(x)[:, 1].sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0
    detector.zero_grad()


def test_eval_mode_is_deterministic(detector):
    x = batch(detector, 2)
    assert torch.equal(detector(x), detector(x))


def test_samples_do_not_mix_across_the_batch(detector):
    # A (N, T) reshape bug would let one clip's frames change another clip's output.
    x = batch(detector, 3)
    alone = detector(x[:1])
    other = x.clone()
    other[1:] = torch.rand_like(other[1:])
    torch.testing.assert_close(detector(other)[:1], alone, atol=1e-4, rtol=1e-4)


def test_video_detectors_read_every_frame(detector):
    if detector.modality != "video":
        pytest.skip("image detector")
    x = batch(detector, 2)
    later = x.clone()
    later[:, -1] = torch.rand_like(later[:, -1])  # only the last frame changes
    assert not torch.allclose(detector(x), detector(later))


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


def test_per_frame_is_the_mean_frame_probability_and_keeps_margins():
    from dfbench.detectors.per_frame import PerFrame

    torch.manual_seed(0)
    inner = create_detector("test_tiny_cnn", input_size=(SIZE, SIZE)).eval()
    clip = torch.rand(2, 4, 3, SIZE, SIZE)
    expected = inner(clip.flatten(0, 1)).softmax(1)[:, 1].view(2, 4).mean(1)
    torch.testing.assert_close(PerFrame(inner).score(clip), expected)
    with torch.no_grad():
        inner.net[-1].weight.mul_(200)  # saturated: every frame's softmax rounds to 0 or 1
    x = clip.clone().requires_grad_(True)
    out = PerFrame(inner)(x)
    (out[:, 1] - out[:, 0]).sum().backward()
    assert torch.isfinite(out).all() and x.grad.abs().sum() > 0  # the margin still has a gradient
