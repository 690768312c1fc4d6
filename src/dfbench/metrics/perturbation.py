"""Per-sample size and visibility of a perturbation: L-inf / L2 norms, SSIM, PSNR."""

from __future__ import annotations

import torch
from torch import Tensor


def perturbation_norms(x: Tensor, x_adv: Tensor) -> tuple[Tensor, Tensor]:
    """Per-sample L-inf and L2 norms of ``x_adv - x``, each ``(N,)``."""
    delta = (x_adv - x).flatten(1)
    return delta.abs().amax(1), delta.norm(dim=1)


def perturbation_quality(x: Tensor, x_adv: Tensor) -> tuple[Tensor, Tensor]:
    """Per-sample SSIM and PSNR (dB) between clean and adversarial inputs in [0, 1].

    SSIM is scikit-image's (Wang et al. 2004; 7x7 window, or the largest odd one that fits,
    channels averaged); video clips average it over frames. PSNR is ``10 log10(1 / MSE)``,
    ``inf`` for an unchanged sample. Shape: ``(N, 3, H, W)`` or ``(N, T, 3, H, W)`` -> two ``(N,)``.
    """
    from skimage.metrics import structural_similarity

    a = x.detach().cpu().double().numpy()
    b = x_adv.detach().cpu().double().numpy()
    frames_a, frames_b = a.reshape(-1, *a.shape[-3:]), b.reshape(-1, *b.shape[-3:])
    win = min(7, *[s - (1 - s % 2) for s in a.shape[-2:]])
    ssim = torch.tensor([structural_similarity(fa, fb, channel_axis=0, data_range=1.0, win_size=win)
                         for fa, fb in zip(frames_a, frames_b)], dtype=torch.float64)
    ssim = ssim.view(len(x), -1).mean(1)
    mse = (x_adv.detach().double() - x.detach().double()).flatten(1).pow(2).mean(1).cpu()
    psnr = 10 * torch.log10(1 / mse)  # inf where mse == 0
    return ssim, psnr
