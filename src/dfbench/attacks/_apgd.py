"""dfbench's own APGD (Croce & Hein, "Reliable evaluation of adversarial robustness with an
ensemble of diverse parameter-free attacks", ICML 2020, Algorithm 1), on cross-entropy or on
the logit margin, L-inf or L2.

The step size starts at ``2 eps`` and halves at checkpoints (after 22%, then 19%, 16% ... and
at least 6% of the steps) where fewer than ``rho`` of the steps since the last checkpoint raised
the loss, or where the step was not halved last time and the best loss has not moved; the
iterate then restarts from the best point. Steps use momentum ``0.75``. Every sample keeps
its own step size and schedule, so samples are independent: with AutoAttack's rule the first
fooling iterate is kept and, with ``early_exit``, the sample takes no further steps.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ._native import FirstAdversarial, losses, with_restarts
from .base import project

RHO = 0.75
MOMENTUM = 0.75


def _view(v: Tensor, like: Tensor) -> Tensor:
    return v.view(-1, *([1] * (like.ndim - 1)))


def _start(x: Tensor, eps: float, norm: str) -> Tensor:
    """AutoAttack's starting point: a random direction scaled to the ball's boundary."""
    t = 2 * torch.rand_like(x) - 1 if norm == "linf" else torch.randn_like(x)
    size = t.flatten(1).abs().amax(1) if norm == "linf" else t.flatten(1).norm(dim=1)
    return (x + eps * t / _view(size.clamp_min(1e-12), x)).clamp(0, 1)


def _step(x: Tensor, x_adv: Tensor, grad: Tensor, eta: Tensor, eps: float, norm: str) -> Tensor:
    """``P(x_adv + eta * direction(grad))`` onto the eps-ball around ``x`` and [0, 1]."""
    direction = grad.sign() if norm == "linf" else grad / _view(grad.flatten(1).norm(dim=1).clamp_min(1e-12), grad)
    return project(x, x_adv + _view(eta, x) * direction, eps, norm)


def apgd(model: nn.Module, x: Tensor, y: Tensor, *, eps: float, norm: str, steps: int, restarts: int = 1,
         loss: str = "ce", first_adversarial: bool = True, early_exit: bool = True) -> Tensor:
    """APGD with restarts on the samples no earlier start fooled.

    Returns per sample the first fooling iterate (``first_adversarial``) or else the point of
    highest loss. Shape: ``x`` ``(N, ...)`` in [0, 1], ``y`` ``(N,)`` -> like ``x``.
    """
    return with_restarts(lambda xs, ys: _run(model, xs, ys, eps=eps, norm=norm, steps=steps, loss=loss,
                                             first=first_adversarial, early_exit=early_exit), x, y, restarts)


def _checkpoints(steps: int) -> list[int]:
    """The iterations after which the step size is checked (AutoAttack's schedule)."""
    interval, shrink, least = max(int(0.22 * steps), 1), max(int(0.03 * steps), 1), max(int(0.06 * steps), 1)
    out, at = [], interval
    while at <= steps:
        out.append(at)
        interval = max(interval - shrink, least)
        at += interval
    return out


def _run(model: nn.Module, x: Tensor, y: Tensor, *, eps: float, norm: str, steps: int, loss: str, first: bool,
         early_exit: bool) -> tuple[Tensor, Tensor, Tensor]:
    """One APGD run: ``(x_adv, found, least margin)``; every state tensor is per sample, updated on the active ones."""
    n = len(x)
    track = FirstAdversarial(model, x, early_exit and first)

    def loss_and_grad(idx: Tensor, at: Tensor) -> tuple[Tensor, Tensor]:
        at = at.detach().requires_grad_(True)
        logits = model(at)
        value = losses(logits, y[idx], loss)
        (grad,) = torch.autograd.grad(value.sum(), at)
        track.record(idx, at, logits.detach(), y[idx])
        return value.detach(), grad.detach()

    x_adv = _start(x, eps, norm)
    all_idx = torch.arange(n, device=x.device)
    f, grad = loss_and_grad(all_idx, x_adv)
    x_best, f_best, grad_best = x_adv.clone(), f.clone(), grad.clone()
    eta = torch.full((n,), 2.0 * eps, device=x.device)
    x_prev, f_prev = x_adv.clone(), f.clone()
    raised = torch.zeros(n, device=x.device)  # steps since the last checkpoint that raised the loss
    f_best_at_check, halved_at_check = f_best.clone(), torch.ones(n, dtype=torch.bool, device=x.device)
    checkpoints, since = set(_checkpoints(steps)), 0
    for k in range(steps):
        idx = track.active()
        if not len(idx):
            break
        xi, xa = x[idx], x_adv[idx]
        with torch.no_grad():
            z = _step(xi, xa, grad[idx], eta[idx], eps, norm)
            a = MOMENTUM if k > 0 else 1.0
            new = project(xi, xa + a * (z - xa) + (1 - a) * (xa - x_prev[idx]), eps, norm)
        x_prev[idx] = xa
        f_new, g_new = loss_and_grad(idx, new)
        x_adv[idx], grad[idx] = new.detach(), g_new
        raised[idx] += (f_new > f_prev[idx]).float()
        f_prev[idx] = f_new
        better = f_new > f_best[idx]
        x_best[idx[better]], f_best[idx[better]], grad_best[idx[better]] = new.detach()[better], f_new[better], \
            g_new[better]
        since += 1
        if k + 1 in checkpoints:
            oscillating = raised <= since * RHO
            stalled = ~halved_at_check & (f_best_at_check >= f_best)
            halve = oscillating | stalled
            eta[halve] /= 2
            x_adv[halve], grad[halve] = x_best[halve], grad_best[halve]
            halved_at_check, f_best_at_check = halve, f_best.clone()
            raised.zero_()
            since = 0
    if not first:
        return x_best.detach(), track.found, track.least
    # x_best, of highest loss, is the point of least margin (CE and -margin both fall with the margin)
    return torch.where(_view(track.found, x), track.x_found, x_best).detach(), track.found, track.least
