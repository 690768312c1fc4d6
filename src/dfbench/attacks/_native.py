"""dfbench's own attack loops: the references the library backends are tested against.

PGD: Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR 2018.
With ``steps=1``, ``alpha=eps`` and no random start it is FGSM (Goodfellow et al. 2015).
CW-L2: Carlini & Wagner, "Towards Evaluating the Robustness of Neural Networks", S&P 2017.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import project


def _flat_norm(t: Tensor) -> Tensor:
    return t.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (t.ndim - 1)))


def margin(logits: Tensor, y: Tensor) -> Tensor:
    """Per-sample ``z_y - z_other`` for two-class logits ``(N, 2)``: > 0 means correct."""
    correct = logits.gather(1, y[:, None]).squeeze(1)
    other = logits.gather(1, (1 - y)[:, None]).squeeze(1)
    return correct - other


def _loss(logits: Tensor, y: Tensor, loss: str) -> Tensor:
    if loss == "margin":  # the CW loss; does not saturate like softmax cross-entropy
        return -margin(logits, y).sum()
    return F.cross_entropy(logits, y)


def fgsm(model: nn.Module, x: Tensor, y: Tensor, *, eps: float) -> Tensor:
    return pgd(model, x, y, eps=eps, norm="linf", alpha=eps, steps=1, random_start=False)


def pgd(model: nn.Module, x: Tensor, y: Tensor, *, eps: float, norm: str, alpha: float, steps: int,
        random_start: bool, loss: str = "ce") -> Tensor:
    """Untargeted PGD maximizing cross-entropy (or minimizing the logit margin).

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
        (grad,) = torch.autograd.grad(_loss(model(x_adv), y, loss), x_adv)
        with torch.no_grad():
            step = grad.sign() if norm == "linf" else grad / _flat_norm(grad)
            x_adv = project(x, x_adv + alpha * step, eps, norm)
    return x_adv.detach()


def cw_l2(model: nn.Module, x: Tensor, y: Tensor, *, steps: int, binary_search_steps: int, lr: float,
          confidence: float, initial_const: float) -> Tensor:
    """Unbounded CW-L2: the smallest-L2 adversarial found per sample, or ``x`` where none.

    Minimizes ``||x' - x||_2^2 + c * max(margin(x'), -confidence)`` over ``x' = (tanh(w)+1)/2``
    with Adam, and binary-searches ``c`` per sample. Shape: ``(N, ...)`` -> like ``x``.
    """
    n = len(x)
    w0 = torch.atanh((x * 2 - 1).clamp(-1 + 1e-6, 1 - 1e-6))
    const = torch.full((n,), float(initial_const), device=x.device)
    lower = torch.zeros(n, device=x.device)
    upper = torch.full((n,), 1e10, device=x.device)
    best_l2 = torch.full((n,), float("inf"), device=x.device)
    best = x.clone()
    for _ in range(binary_search_steps):
        w = w0.clone().requires_grad_(True)
        opt = torch.optim.Adam([w], lr=lr)
        found = torch.zeros(n, dtype=torch.bool, device=x.device)
        for _ in range(steps):
            x_adv = (torch.tanh(w) + 1) / 2
            l2sq = (x_adv - x).flatten(1).pow(2).sum(1)
            m = margin(model(x_adv), y)
            loss = (l2sq + const * (m + confidence).clamp_min(0)).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                better = (m < 0) & (l2sq.sqrt() < best_l2)
                best_l2 = torch.where(better, l2sq.sqrt(), best_l2)
                best[better] = x_adv.detach()[better]
                found |= m < 0
        with torch.no_grad():  # success: try a smaller c; failure: a larger one
            upper = torch.where(found, torch.minimum(upper, const), upper)
            lower = torch.where(found, lower, torch.maximum(lower, const))
            const = torch.where(upper < 1e9, (lower + upper) / 2, const * 10)
    return best
