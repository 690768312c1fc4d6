"""Fake-making techniques for the embedded dataset, and the shared augmentations.

All functions take and return grey images ``(N, 1, S, S)`` in [0, 1] and draw their
randomness from an explicit ``torch.Generator``, so a seed fixes the output.

- :func:`self_blend`: Shiohara & Yamasaki, "Detecting Deepfakes with Self-Blended Images",
  CVPR 2022 — a face blended with a colour/geometry-jittered copy of itself through a soft
  face mask, which leaves blending boundaries and statistical inconsistencies.
- :func:`upsample_artifacts`: Zhang, Karaman & Chang, "Detecting and Simulating Artifacts in
  GAN Fake Images" (AutoGAN), WIFS 2019 — downsampling then zero-insertion upsampling with an
  imperfect kernel, as a generator's transposed convolution does, leaves checkerboard
  peaks in the spectrum.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def uniform(g: torch.Generator, n: int, lo: float, hi: float) -> Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g)


def signed_uniform(g: torch.Generator, n: int, lo: float, hi: float) -> Tensor:
    """Magnitude uniform in [lo, hi], random sign: a jitter that is never negligible."""
    sign = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
    return sign * uniform(g, n, lo, hi)


def random_affine(x: Tensor, g: torch.Generator, scale: float, shift: float, degrees: float,
                  flip: bool) -> Tensor:
    """Random scale/rotation/translation (and horizontal flip) per image, reflection padded."""
    n = len(x)
    s = uniform(g, n, 1 - scale, 1 + scale)
    a = uniform(g, n, -degrees, degrees) * math.pi / 180
    tx, ty = uniform(g, n, -shift, shift) * 2, uniform(g, n, -shift, shift) * 2
    fx = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0) if flip else torch.ones(n)
    theta = torch.stack([
        torch.stack([fx * torch.cos(a) / s, -torch.sin(a) / s, tx], 1),
        torch.stack([fx * torch.sin(a) / s, torch.cos(a) / s, ty], 1),
    ], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def gaussian_blur(x: Tensor, sigma: Tensor) -> Tensor:
    """Blur each image with its own sigma (pixels). Shape ``(N, 1, S, S)``."""
    radius = int(math.ceil(3 * float(sigma.max()))) or 1
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    k = torch.exp(-0.5 * (t[None] / sigma.clamp_min(1e-3)[:, None]) ** 2)
    k = k / k.sum(1, keepdim=True)  # (N, K)
    n, c, h, w = x.shape
    xp = F.pad(x.reshape(1, n * c, h, w), (radius,) * 4, mode="reflect")
    kh = k.repeat_interleave(c, 0)[:, None, :, None]
    kw = k.repeat_interleave(c, 0)[:, None, None, :]
    y = F.conv2d(F.conv2d(xp, kh, groups=n * c), kw, groups=n * c)
    return y.reshape(n, c, h, w)


def face_mask(n: int, size: int, g: torch.Generator) -> Tensor:
    """Soft elliptical face masks ``(N, 1, S, S)`` in [0, 1] with random shape and blur."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    cx, cy = uniform(g, n, 0.45, 0.55), uniform(g, n, 0.5, 0.6)
    ax, ay = uniform(g, n, 0.22, 0.34), uniform(g, n, 0.28, 0.42)
    inside = ((xx - cx[:, None, None]) / ax[:, None, None]) ** 2 + ((yy - cy[:, None, None]) / ay[:, None, None]) ** 2
    hard = (inside <= 1).float()[:, None]
    return gaussian_blur(hard, uniform(g, n, 0.02, 0.06) * size).clamp(0, 1)


def photometric(x: Tensor, g: torch.Generator, brightness: float, contrast: float, gamma: float) -> Tensor:
    """Random brightness, contrast and gamma per image."""
    n = len(x)
    b = uniform(g, n, -brightness, brightness)[:, None, None, None]
    c = uniform(g, n, 1 - contrast, 1 + contrast)[:, None, None, None]
    gm = uniform(g, n, 1 - gamma, 1 + gamma)[:, None, None, None]
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (((x - mean) * c + mean + b).clamp(0, 1) ** gm).clamp(0, 1)


def self_blend(x: Tensor, g: torch.Generator) -> Tensor:
    """Self-blended fakes (SBI): ``mask * jitter(x) + (1 - mask) * x``."""
    n, _, size, _ = x.shape
    source = random_affine(x, g, scale=0.05, shift=0.03, degrees=3, flip=False)
    mean = source.mean(dim=(1, 2, 3), keepdim=True)
    contrast = 1 + signed_uniform(g, n, 0.1, 0.3)[:, None, None, None]
    brightness = signed_uniform(g, n, 0.04, 0.12)[:, None, None, None]
    source = ((source - mean) * contrast + mean + brightness).clamp(0, 1)
    sharpen = torch.rand(n, generator=g) < 0.5
    blurred = gaussian_blur(source, uniform(g, n, 0.5, 1.2) * size / 64)
    source = torch.where(sharpen[:, None, None, None], (2 * source - blurred).clamp(0, 1), blurred)
    mask = face_mask(n, size, g) * uniform(g, n, 0.75, 1.0)[:, None, None, None]
    return mask * source + (1 - mask) * x


def upsample_artifacts(x: Tensor, g: torch.Generator) -> Tensor:
    """GAN-upsampling fakes (AutoGAN): 2x down, zero-insertion up with an imperfect kernel.

    A bilinear 3x3 kernel on a zero-inserted image interpolates exactly; a random
    perturbation of it gives the four pixel phases unequal gains — the checkerboard.
    """
    n, _, size, _ = x.shape
    down = F.avg_pool2d(x, 2, ceil_mode=True)  # odd sides (299 px): the last row and column pool alone
    up = torch.zeros_like(x)
    up[:, :, ::2, ::2] = down
    bilinear = torch.tensor([0.5, 1.0, 0.5])
    base = bilinear[:, None] * bilinear[None, :]
    noise = torch.randn(n, 3, 3, generator=g) * uniform(g, n, 0.08, 0.25)[:, None, None]
    kernels = (base + noise)[:, None]  # (N, 1, 3, 3)
    y = F.conv2d(F.pad(up.reshape(1, n, size, size), (1, 1, 1, 1), mode="reflect"), kernels, groups=n)
    y = y.reshape(n, 1, size, size).clamp(0, 1)
    mask = face_mask(n, size, g)
    return mask * y + (1 - mask) * x


def camera(x: Tensor, g: torch.Generator) -> Tensor:
    """What every image goes through last, real or fake: exposure, a colour tint, sensor
    noise and 8-bit quantization. Grey ``(N, 1, S, S)`` -> RGB ``(N, 3, S, S)``."""
    n = len(x)
    x = photometric(x, g, brightness=0.06, contrast=0.12, gamma=0.12)
    tint = 1 + (torch.rand(n, 3, generator=g) - 0.5) * 0.16
    rgb = x.repeat(1, 3, 1, 1) * tint[:, :, None, None]
    rgb = rgb + torch.randn(rgb.shape, generator=g) * uniform(g, n, 0.0, 0.01)[:, None, None, None]
    return (rgb.clamp(0, 1) * 255).round() / 255
