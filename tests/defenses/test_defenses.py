"""Preprocessing defenses: each against a reference implementation, its gradient paths, composition."""

import io

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from dfbench.defenses import (
    BitDepth,
    GaussianBlur,
    Jpeg,
    MedianFilter,
    RandomResizePad,
    attack_view,
    chain_name,
    create_defense,
    defend,
)
from dfbench.detectors import create_detector
from dfbench.detectors.base import Detector
from dfbench.errors import ConfigError


def test_jpeg_is_the_real_codec(x):
    """Against PIL's libjpeg at the same quality: a few grey levels apart at most on average."""
    ours = Jpeg(quality=50).transform(x)
    for img, out in zip(x, ours):
        buf = io.BytesIO()
        Image.fromarray((img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(buf, "JPEG", quality=50)
        ref = torch.from_numpy(np.asarray(Image.open(buf), dtype=np.float32) / 255).permute(2, 0, 1)
        assert (out - ref).abs().mean() < 3 / 255
    assert (ours - x).abs().mean() > 0.5 / 255  # it did compress


def test_median_filter_matches_scipy(x):
    ref = ndimage.median_filter(x.numpy(), size=(1, 1, 3, 3), mode="mirror")
    assert torch.allclose(MedianFilter(size=3).transform(x), torch.from_numpy(ref))


def test_gaussian_blur_matches_scipy(x):
    ref = ndimage.gaussian_filter(x.numpy(), sigma=(0, 0, 1.0, 1.0), mode="mirror", truncate=3.0)
    assert torch.allclose(GaussianBlur(sigma=1.0).transform(x), torch.from_numpy(ref), atol=1e-5)


def test_bit_depth_levels(x):
    out = BitDepth(bits=2).transform(x)
    assert set((out * 3).round().unique().tolist()) <= {0.0, 1.0, 2.0, 3.0}
    assert torch.allclose(out * 3, (out * 3).round())


def test_composition_reads_in_the_order_the_input_travels(x):
    det = create_detector("test_tiny_cnn").eval()
    a, b = BitDepth(bits=3), GaussianBlur(sigma=1.0)
    chain = defend(det, a, b)
    assert chain_name(chain) == "BitDepth(bits=3) -> GaussianBlur(sigma=1)"
    with torch.no_grad():
        assert torch.equal(chain(x), det(b.transform(a.transform(x))))
        assert not torch.equal(chain(x), det(a.transform(b.transform(x))))


def test_eot_averages_random_draws_and_threshold_passes_through(x):
    det = create_detector("test_tiny_cnn").eval()
    det.threshold = 0.7
    defended = defend(det, RandomResizePad(scale=1.2))
    assert defended.threshold == 0.7
    with attack_view(defended, True, eot_samples=4) as view:
        assert type(view).__name__ == "EOT" and view.samples == 4 and view.threshold == 0.7
        torch.manual_seed(0)
        mean = view(x)
        torch.manual_seed(0)
        draws = torch.stack([defended(x) for _ in range(4)])
        assert torch.allclose(mean, draws.mean(0))
    assert not defended.adaptive  # the view restores the mode
    assert not det.training and not defended.training  # and never flips the detector into train mode


class Clip(Detector):
    modality = "video"

    def classify(self, z):
        return z.mean(dim=(1, 2, 3, 4))[:, None].repeat(1, 2)


def test_frame_wise_defenses_take_video_and_image_only_ones_refuse_it():
    clip = torch.rand(2, 3, 3, 16, 16)
    out = defend(Clip(), BitDepth(bits=2))(clip)
    assert out.shape == (2, 2)
    with pytest.raises(ValueError, match="cannot take video"):
        defend(Clip(), RandomResizePad())


@pytest.mark.parametrize("name,params,message", [
    ("jpeg", {"quality": 0}, "quality must be an integer in"),
    ("jpeg", {"quality": 101}, "quality must be"),
    ("jpeg", {"quality": 7.5}, "integer"),
    ("gaussian_blur", {"sigma": -1.0}, "sigma must be"),
    ("gaussian_blur", {"sigma": 0}, "sigma must be > 0"),
    ("median_filter", {"size": 4}, "odd"),
    ("bit_depth", {"bits": 9}, "bits must be"),
    ("random_resize_pad", {"scale": 1.0}, "scale must be > 1"),
    ("jpeg", {"colour": 1}, r"unknown parameter\(s\) colour"),
    ("jpeg", {"quality": 75.5}, "quality must be an integer, got 75.5"),
    ("nope", {}, "unknown defense 'nope'"),
])
def test_bad_parameters_are_one_line_errors(name, params, message):
    with pytest.raises(ConfigError, match=message):
        create_defense(name, **params)
