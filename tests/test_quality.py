"""Perturbation quality (SSIM, PSNR) against scikit-image's reference functions."""

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from dfbench.metrics import perturbation_quality


def test_against_scikit_image_on_channels_last_arrays():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 3, 32, 32, generator=g)
    x_adv = (x + 0.05 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    ssim, psnr = perturbation_quality(x, x_adv)
    for i in range(len(x)):
        a, b = x[i].permute(1, 2, 0).double().numpy(), x_adv[i].permute(1, 2, 0).double().numpy()
        assert ssim[i].item() == pytest.approx(structural_similarity(a, b, channel_axis=2, data_range=1.0), abs=1e-9)
        assert psnr[i].item() == pytest.approx(peak_signal_noise_ratio(a, b, data_range=1.0), abs=1e-6)


def test_unchanged_samples_have_ssim_one_and_infinite_psnr():
    x = torch.rand(2, 3, 16, 16)
    ssim, psnr = perturbation_quality(x, x.clone())
    assert torch.allclose(ssim, torch.ones(2, dtype=torch.float64)) and torch.isinf(psnr).all()


def test_video_clips_average_over_frames_and_tiny_images_work():
    clip = torch.rand(2, 4, 3, 5, 5)  # smaller than SSIM's 7x7 window
    adv = (clip + 0.1).clamp(0, 1)
    ssim, psnr = perturbation_quality(clip, adv)
    frame_ssim, _ = perturbation_quality(clip.flatten(0, 1), adv.flatten(0, 1))
    assert torch.allclose(ssim, frame_ssim.view(2, 4).mean(1))
    assert ssim.shape == psnr.shape == (2,) and np.isfinite(psnr.numpy()).all()
    assert not math.isnan(ssim[0].item())
