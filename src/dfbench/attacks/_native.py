"""dfbench's own attack loops: the references the library backends are tested against.

PGD: Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR 2018.
With ``steps=1``, ``alpha=eps`` and no random start it is FGSM (Goodfellow et al. 2015).
CW-L2: Carlini & Wagner, "Towards Evaluating the Robustness of Neural Networks", S&P 2017.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import fooled, project


def _flat_norm(t: Tensor) -> Tensor:
    return t.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (t.ndim - 1)))


def margin(logits: Tensor, y: Tensor) -> Tensor:
    """Per-sample ``z_y - z_other`` for two-class logits ``(N, 2)``: > 0 means correct."""
    correct = logits.gather(1, y[:, None]).squeeze(1)
    other = logits.gather(1, (1 - y)[:, None]).squeeze(1)
    return correct - other


def losses(logits: Tensor, y: Tensor, loss: str) -> Tensor:
    """Per-sample loss to maximize: cross-entropy, or ``-margin`` (the CW loss, which keeps its
    gradient where softmax saturates; the two-class stand-in for AutoAttack's DLR)."""
    if loss == "margin":
        return -margin(logits, y)
    return F.cross_entropy(logits, y, reduction="none")


class FirstAdversarial:
    """AutoAttack's rule, per sample: the first point that fooled the model is kept, and with
    ``early_exit`` the sample is not attacked further (it cannot change a count). Samples are
    attacked independently (eval mode), so dropping one leaves the others' steps as they were.
    A sample never clearly fooled (past ``FOOLED_MARGIN``) keeps its point of least margin, which
    may still flip the decision by less than that margin.

    ``found`` ``(N,)`` bool; ``x_found`` like ``x``; ``least`` ``(N,)`` the least margin seen, at
    ``x_least``; :meth:`active` the indices still attacked.
    """

    def __init__(self, model: nn.Module, x: Tensor, early_exit: bool) -> None:
        self.model = model
        self.x_found, self.x_least = x.clone(), x.clone()
        self.found = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        self.least = torch.full((len(x),), math.inf, device=x.device)
        self.early_exit = early_exit

    def active(self) -> Tensor:
        idx = torch.arange(len(self.found), device=self.found.device)
        return idx[~self.found] if self.early_exit else idx

    def record(self, idx: Tensor, x_at: Tensor, logits: Tensor, y: Tensor) -> None:
        """``x_at`` (the points of samples ``idx``) with their ``logits``: keep the first fooling ones."""
        new = fooled(logits, y, self.model) & ~self.found[idx]
        self.x_found[idx[new]] = x_at[new].detach()
        self.found[idx[new]] = True
        m = margin(logits.detach(), y)
        lower = m < self.least[idx]
        self.x_least[idx[lower]], self.least[idx[lower]] = x_at[lower].detach(), m[lower].to(self.least.dtype)

    def result(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(x_adv, found, least)``: the first clearly fooling point, else the point of least margin."""
        return torch.where(self.found.view(-1, *([1] * (self.x_found.ndim - 1))), self.x_found,
                           self.x_least), self.found, self.least


def fgsm(model: nn.Module, x: Tensor, y: Tensor, *, eps: float) -> Tensor:
    return pgd(model, x, y, eps=eps, norm="linf", alpha=eps, steps=1, random_start=False, first_adversarial=False)


def random_point(x: Tensor, eps: float, norm: str) -> Tensor:
    """A uniform point of the L-inf ball, or a random direction at a uniform radius of the L2 ball."""
    if norm == "linf":
        return project(x, x + torch.empty_like(x).uniform_(-eps, eps), eps, norm)
    direction = torch.randn_like(x)
    radius = torch.rand(len(x), device=x.device).view(-1, *([1] * (x.ndim - 1)))
    return project(x, x + direction / _flat_norm(direction) * radius * eps, eps, norm)


def pgd(model: nn.Module, x: Tensor, y: Tensor, *, eps: float, norm: str, alpha: float, steps: int,
        random_start: bool, loss: str = "ce", restarts: int = 1, schedule: str = "constant",
        first_adversarial: bool = True, early_exit: bool = True) -> Tensor:
    """Untargeted PGD maximizing cross-entropy (or minimizing the logit margin), with restarts.

    The step is ``alpha`` throughout (``schedule="constant"``) or cosine-annealed from ``alpha``
    towards 0 over the steps (``"cosine"``: step ``t`` of ``T`` is ``alpha (1 + cos(pi t / T)) / 2``).

    With ``first_adversarial`` (AutoAttack's rule) a sample's first clearly fooling iterate is returned
    and, with ``early_exit``, it takes no further steps; a sample never clearly fooled gets its iterate
    of least margin. Without it, the last iterate is returned.
    Restarts attack only the samples no earlier start fooled.

    Shape: ``x`` ``(N, ...)`` in [0, 1], ``y`` ``(N,)`` -> ``x_adv`` like ``x``.
    """
    return with_restarts(lambda xs, ys: _pgd_run(model, xs, ys, eps=eps, norm=norm, alpha=alpha, steps=steps,
                                                 start=random_start, loss=loss, schedule=schedule,
                                                 first=first_adversarial, early_exit=early_exit), x, y, restarts)


def with_restarts(run: Callable[[Tensor, Tensor], tuple[Tensor, Tensor, Tensor]], x: Tensor, y: Tensor,
                  restarts: int) -> Tensor:
    """``run(x, y) -> (x_adv, found, margin)`` up to ``restarts`` times, each on the samples no earlier
    run fooled; a sample no run fooled keeps the output of least margin over the runs."""
    out = x.clone()
    alive = torch.ones(len(x), dtype=torch.bool, device=x.device)
    least = torch.full((len(x),), math.inf, device=x.device)
    for _ in range(restarts):
        idx = alive.nonzero().squeeze(1)
        if not len(idx):
            break
        x_r, found, m = run(x[idx], y[idx])
        keep = found | (m <= least[idx])  # ties: the later run (textbook PGD's margins are all -inf)
        out[idx[keep]], least[idx[keep]] = x_r[keep], m[keep]
        alive[idx[found]] = False
    return out


def _pgd_run(model: nn.Module, x: Tensor, y: Tensor, *, eps: float, norm: str, alpha: float, steps: int,
             start: bool, loss: str, schedule: str, first: bool, early_exit: bool) -> tuple[Tensor, Tensor, Tensor]:
    """One PGD run: ``(x_adv, found, margin)``; without ``first`` the last iterate (textbook PGD)."""
    x_adv = random_point(x, eps, norm) if start and eps > 0 else x.clone()
    track = FirstAdversarial(model, x, early_exit and first)
    for t in range(steps):
        idx = track.active()
        if not len(idx):
            break
        xa = x_adv[idx].requires_grad_(True)
        logits = model(xa)
        (grad,) = torch.autograd.grad(losses(logits, y[idx], loss).sum(), xa)
        with torch.no_grad():
            track.record(idx, xa, logits, y[idx])
            step = grad.sign() if norm == "linf" else grad / _flat_norm(grad)
            size = alpha * (1 + math.cos(math.pi * t / steps)) / 2 if schedule == "cosine" else alpha
            x_adv[idx] = project(x[idx], xa + size * step, eps, norm)
    if not first:
        return x_adv.detach(), track.found, torch.full((len(x),), -math.inf, device=x.device)
    idx = track.active()
    if len(idx):  # the last iterate: scored once, without a gradient
        with torch.no_grad():
            track.record(idx, x_adv[idx], model(x_adv[idx]), y[idx])
    return track.result()


def cw_l2(model: nn.Module, x: Tensor, y: Tensor, *, steps: int, binary_search_steps: int, lr: float,
          confidence: float, initial_const: float, stop_below: float = -1.0) -> Tensor:
    """Unbounded CW-L2: the smallest-L2 adversarial found per sample, or ``x`` where none.

    Minimizes ``||x' - x||_2^2 + c * max(margin(x'), -confidence)`` over ``x' = (tanh(w)+1)/2``
    with Adam, and binary-searches ``c`` per sample. Early exit: once an iterate lies within
    ``stop_below`` (a grid's smallest budget) and clearly fools the model (:func:`~.base.fooled`), it
    is the sample's example and the sample is searched no further: it counts as broken at every
    budget whatever smaller example a longer search would find. Shape: ``(N, ...)`` -> like ``x``.
    """
    n = len(x)
    w0 = torch.atanh((x * 2 - 1).clamp(-1 + 1e-6, 1 - 1e-6))
    const = torch.full((n,), float(initial_const), device=x.device)
    lower = torch.zeros(n, device=x.device)
    upper = torch.full((n,), 1e10, device=x.device)
    best_l2 = torch.full((n,), float("inf"), device=x.device)
    best = x.clone()
    settled = torch.zeros(n, dtype=torch.bool, device=x.device)
    for _ in range(binary_search_steps):
        idx = (~settled).nonzero().squeeze(1)
        if not len(idx):
            break
        w = w0[idx].clone().requires_grad_(True)
        opt = torch.optim.Adam([w], lr=lr)
        found = torch.zeros(n, dtype=torch.bool, device=x.device)
        for _ in range(steps):
            x_adv = (torch.tanh(w) + 1) / 2
            l2sq = (x_adv - x[idx]).flatten(1).pow(2).sum(1)
            logits = model(x_adv)
            m = margin(logits, y[idx])
            loss = (l2sq + const[idx] * (m + confidence).clamp_min(0)).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                l2 = l2sq.sqrt()
                better = (m < 0) & (l2 < best_l2[idx])
                best_l2[idx[better]] = l2[better]
                best[idx[better]] = x_adv.detach()[better]
                found[idx[m < 0]] = True
                done = fooled(logits, y[idx], model) & (l2 <= stop_below)
                best_l2[idx[done]] = l2[done]
                best[idx[done]] = x_adv.detach()[done]
                settled[idx[done]] = True
                keep = ~done
            if not keep.all():
                if not keep.any():
                    break
                idx, (w, opt) = idx[keep], _adam_rows(opt, w, keep)
        with torch.no_grad():  # success: try a smaller c; failure: a larger one
            upper = torch.where(found, torch.minimum(upper, const), upper)
            lower = torch.where(found, lower, torch.maximum(lower, const))
            const = torch.where(upper < 1e9, (lower + upper) / 2, const * 10)
    return best


def _adam_rows(opt: torch.optim.Adam, w: Tensor, keep: Tensor) -> tuple[Tensor, torch.optim.Adam]:
    """The rows ``keep`` of Adam's one parameter ``w`` as a new parameter, with their moments and
    step count carried over: each row goes on exactly as it would have in the whole batch."""
    rows = w.detach()[keep].requires_grad_(True)
    new = torch.optim.Adam([rows], **{k: v for k, v in opt.defaults.items() if k != "params"})
    new.state[rows] = {k: v[keep] if v.shape == w.shape else v for k, v in opt.state[w].items()}
    return rows, new
