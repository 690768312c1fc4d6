"""The one interface every attack implements."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

from .._registry import Registry
from ..detectors.base import Detector

Norm = Literal["linf", "l2"]
NORMS: tuple[str, ...] = ("linf", "l2")
BUDGET_TOLERANCE = 1e-5


class BudgetError(RuntimeError):
    """An attack returned an input outside its threat model (a bug in the attack)."""


class Attack:
    """Returns ``x_adv`` in [0, 1] with ``||x_adv - x||_p <= eps`` (per sample).

    The detector is an argument of :meth:`perturb`, so one attack object serves a whole
    grid. Subclasses implement :meth:`run`; the base class puts the detector in eval mode,
    freezes its parameters for the call (no weight gradients are computed), fixes the
    random state from ``seed``, and checks the budget of what comes back.

    Shape: ``x`` ``(N, 3, H, W)`` or ``(N, T, 3, H, W)`` in [0, 1], ``y`` ``(N,)`` int64.
    """

    name: ClassVar[str]
    norms: ClassVar[tuple[str, ...]] = NORMS
    backends: ClassVar[tuple[str, ...]] = ("native",)

    def __init__(self, *, eps: float, norm: Norm = "linf", backend: str = "native", seed: int = 0) -> None:
        if norm not in self.norms:
            raise ValueError(f"{self.name} supports norms {', '.join(self.norms)}, not {norm!r}")
        if backend not in self.backends:
            raise ValueError(f"{self.name} has backends {', '.join(self.backends)}, not {backend!r}")
        eps = float(eps)
        if not eps >= 0 or eps == float("inf"):
            raise ValueError(f"eps must be a finite number >= 0, got {eps}")
        if norm == "linf" and eps > 1:
            raise ValueError(f"an L-inf eps above 1 covers the whole [0, 1] image (got {eps}); write e.g. 8/255")
        self.eps, self.norm, self.backend, self.seed = eps, norm, backend, int(seed)

    def params(self) -> dict[str, Any]:
        """The attack's own parameters (beyond eps, norm, backend, seed), for the record."""
        return {}

    def run(self, detector: Detector, x: Tensor, y: Tensor) -> Tensor:
        raise NotImplementedError

    def perturb(self, detector: Detector, x: Tensor, y: Tensor) -> Tensor:
        was_training = detector.training
        detector.eval()
        try:
            with frozen(detector), torch.random.fork_rng(devices=_cuda_devices(x)):
                torch.manual_seed(self.seed)
                x_adv = self.run(detector, x.detach(), y).detach()
        finally:
            detector.train(was_training)
        return check_budget(x, x_adv, self.eps, self.norm)

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v}" for k, v in self.params().items())
        return f"{type(self).__name__}(eps={self.eps:.6g}, norm={self.norm}, backend={self.backend}{extra})"


@contextmanager
def frozen(module: torch.nn.Module) -> Iterator[None]:
    """Turn off ``requires_grad`` on every parameter for the block, then restore it."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def _cuda_devices(x: Tensor) -> list[int]:
    return [x.device.index or 0] if x.is_cuda else []


def perturbation_norms(x: Tensor, x_adv: Tensor) -> tuple[Tensor, Tensor]:
    """Per-sample L-inf and L2 norms of ``x_adv - x``, each ``(N,)``."""
    delta = (x_adv - x).flatten(1)
    return delta.abs().amax(1), delta.norm(dim=1)


def check_budget(x: Tensor, x_adv: Tensor, eps: float, norm: str) -> Tensor:
    """Raise BudgetError when ``x_adv`` leaves [0, 1] or the eps-ball beyond float tolerance;
    snap float-rounding excess back inside. Returns the (snapped) ``x_adv``."""
    if x_adv.shape != x.shape or not torch.isfinite(x_adv).all():
        raise BudgetError("attack returned a tensor of the wrong shape or with NaN/inf")
    linf, l2 = perturbation_norms(x, x_adv)
    size = linf if norm == "linf" else l2
    tol = BUDGET_TOLERANCE * max(1.0, eps)
    if (size > eps + tol).any() or x_adv.min() < -tol or x_adv.max() > 1 + tol:
        raise BudgetError(f"attack exceeded its budget: max {norm} {float(size.max()):.6g} > eps {eps:.6g}, "
                          f"range [{float(x_adv.min()):.4g}, {float(x_adv.max()):.4g}]")
    return project(x, x_adv, eps, norm)


def project(x: Tensor, x_adv: Tensor, eps: float, norm: str) -> Tensor:
    """Project ``x_adv`` onto the eps-ball around ``x`` intersected with [0, 1]."""
    delta = x_adv - x
    if norm == "linf":
        delta = delta.clamp(-eps, eps)
    else:
        n = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
        factor = (eps / n).clamp(max=1.0).view(-1, *([1] * (x.ndim - 1)))
        delta = delta * factor
    return (x + delta).clamp(0, 1)


attacks: Registry[Attack] = Registry("attack", "dfbench.attacks")
register_attack = attacks.register
