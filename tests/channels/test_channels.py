"""Distribution channels: the real codecs, their gradient paths, and channels in a grid."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from dfbench.channels import channel_layers, create_channel, through_channel, to_8bit
from dfbench.channels.h264 import h264_roundtrip
from dfbench.defenses import attack_view
from dfbench.detectors import create_detector
from dfbench.errors import ConfigError


@pytest.fixture
def photo():
    """(4, 3, 32, 32) in [0, 1], smooth like a photograph (neighbouring pixels correlate)."""
    g = torch.Generator().manual_seed(0)
    return torch.nn.functional.avg_pool2d(torch.rand(4, 3, 36, 36, generator=g), 5, stride=1).clamp(0, 1)


def _pil_jpeg(image: torch.Tensor, quality: int) -> torch.Tensor:
    """The reference: PIL's own JPEG encoder and decoder (4:2:0, as libjpeg's default)."""
    pixels = (image * 255).round().byte().permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality, subsampling=2)
    return torch.from_numpy(np.array(Image.open(buffer))).permute(2, 0, 1).float() / 255


def test_jpeg_channel_matches_pil_and_draws_its_quality_per_image(photo):
    for q in (60, 95):
        out = create_channel("jpeg", quality=q).transform(photo)
        for image, got in zip(photo, out):
            assert (got - _pil_jpeg(image, q)).abs().max() <= 2 / 255  # two libjpeg builds: an LSB of rounding
    channel = create_channel("jpeg", quality=[10, 95])
    torch.manual_seed(0)
    qualities = channel.draw("quality", 1000)
    assert min(qualities) == 10 and max(qualities) == 95 and channel.randomized
    assert not create_channel("jpeg", quality=75).randomized


def test_h264_channel_is_the_real_codec_lossier_at_a_higher_crf(photo):
    clip = photo[None].repeat(1, 2, 1, 1, 1)  # (1, 8, 3, 32, 32): eight frames
    pixels = (clip[0] * 255).round().byte().permute(0, 2, 3, 1).numpy()
    errors = [np.abs(h264_roundtrip(pixels, crf, "medium").astype(int) - pixels).mean() for crf in (0, 23, 45)]
    assert errors[0] < errors[1] < errors[2] and errors[2] > 2  # CRF 0: only yuv420p's chroma subsampling
    detector = create_detector("cnn_lstm", input_size=(32, 32)).eval()
    through = through_channel(detector, (("h264", {"crf": 23}),))
    assert through(clip).shape == (1, 2)
    with pytest.raises(ValueError, match="even frame sides"):
        create_channel("h264").transform(torch.rand(1, 2, 3, 31, 32))
    with pytest.raises(ValueError, match="cannot take image input"):
        through_channel(create_detector("test_tiny_cnn", input_size=(32, 32)), (("h264", {}),))
    with pytest.raises(ValueError, match="even frame sides, the detector takes 32x33"):  # refused at load
        through_channel(_odd(create_detector("cnn_lstm", input_size=(32, 32))), (("h264", {}),))
    assert create_channel("h264", crf=[18, 28], preset="fast").describe() == "h264(crf=18-28, preset=fast)"


def _odd(detector):
    """The detector claiming an odd input side (only the size matters to the check)."""
    detector.input_size = (32, 33)
    return detector


def test_resize_channel_stores_a_smaller_8bit_image(photo):
    same = create_channel("resize", scale=1.0).transform(photo)
    assert torch.allclose(same, to_8bit(photo), atol=1e-6)
    half = create_channel("resize", scale=0.5).transform(photo)
    reference = torch.nn.functional.interpolate(photo, size=(16, 16), mode="bilinear", antialias=True)
    reference = torch.nn.functional.interpolate(to_8bit(reference), size=(32, 32), mode="bilinear")
    assert torch.allclose(half, reference, atol=1e-6)


def test_channel_aware_gradients_pass_through_codecs_and_naive_ones_do_not_exist(photo):
    """Channel-aware: BPDA through the 8-bit rounding and JPEG, EOT over a random quality."""
    detector = create_detector("test_tiny_cnn", input_size=(32, 32)).eval()
    scored = through_channel(detector, (("jpeg", {"quality": [60, 95]}),))
    x = photo.clone().requires_grad_(True)
    with attack_view(scored, True, 3) as attacked:
        assert type(attacked).__name__ == "EOT"
        attacked(x)[:, 1].sum().backward()
    assert x.grad.abs().sum() > 0
    assert [layer.describe() for layer in channel_layers((("jpeg", {"quality": [60, 95]}),))] == \
        ["8bit", "jpeg(quality=60-95)"]


@pytest.mark.parametrize("params, message", [
    ({"quality": 0}, "quality must be an integer in"), ({"quality": [95, 60]}, "quality must be"),
    ({"quality": [60, 70, 80]}, "quality must be"), ({"quality": 7.5}, "quality must be"),
    ({"quality": [60, float("nan")]}, "quality must be"),
])
def test_bad_channel_parameters_are_one_line_errors(params, message):
    with pytest.raises((ValueError, ConfigError), match=message):
        create_channel("jpeg", **params)
    with pytest.raises((ValueError, ConfigError), match="scale must be > 0"):
        create_channel("resize", scale=[0, 0.5])
