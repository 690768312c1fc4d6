"""dfbench's own PGD loop: the reference the library backends are tested against.

Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR 2018.
With ``steps=1``, ``alpha=eps`` and no random start it is FGSM (Goodfellow et al. 2015).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import project


def _flat_norm(t: Tensor) -> Tensor:
    return t.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (t.ndim - 1)))


def pgd(model: nn.Module, x: Tensor, y: Tensor, *, eps: float, norm: str, alpha: float, steps: int,
        random_start: bool) -> Tensor:
    """Untargeted PGD maximizing cross-entropy on the model's logits.

    Shape: ``x`` ``(N, ...)`` in [0, 1], ``y`` ``(N,)`` -> ``x_adv`` like ``x``.
    """
    x_adv = x.clone()
    if random_start and eps > 0:
        if norm == "linf":
            x_adv = x_adv + torch.empty_like(x).uniform_(-eps, eps)
        else:
            direction = torch.randn_like(x)
            radius = torch.rand(len(x), device=x.device).view(-1, *([1] * (x.ndim - 1)))
            x_adv = x_adv + direction / _flat_norm(direction) * radius * eps
        x_adv = project(x, x_adv, eps, norm)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), y)
        (grad,) = torch.autograd.grad(loss, x_adv)
        with torch.no_grad():
            step = grad.sign() if norm == "linf" else grad / _flat_norm(grad)
            x_adv = project(x, x_adv + alpha * step, eps, norm)
    return x_adv.detach()
