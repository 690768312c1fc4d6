"""PGD: projected gradient descent on cross-entropy (or the logit margin), L-inf or L2.

Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR 2018.

Arguments: ``eps`` (budget), ``norm`` ("linf" | "l2"), ``steps`` (default 10), ``alpha``
(step size; default ``2.5 * eps / steps``, Madry's rule), ``random_start`` (default True),
``loss`` ("ce", default, or "margin": the CW loss ``z_y - z_other``, which keeps its gradient
where softmax saturates; native backend only), ``restarts`` (default 1; native only: each
restart attacks the samples no earlier one fooled), ``schedule`` ("constant", default, or
"cosine": the step anneals from ``alpha`` to 0, and ``alpha`` defaults to ``2 * eps``, so early
steps cross the ball and late ones refine; native only), ``backend`` ("torchattacks" | "art" |
"foolbox" | "native": dfbench's own loop, which stops attacking a sample once it is fooled
and keeps that first adversarial, AutoAttack's rule).

Example::

    x_adv = create_attack("pgd", eps=8 / 255, norm="linf").perturb(detector, x, y)
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from ..detectors.base import Detector
from . import _art, _foolbox, _native, _torchattacks
from .base import Attack, AttackKind, Cost, register_attack

BACKENDS = {"torchattacks": _torchattacks.pgd, "art": _art.pgd, "foolbox": _foolbox.pgd, "native": _native.pgd}
LOSSES = ("ce", "margin")
SCHEDULES = ("constant", "cosine")


class PGD(Attack):
    name = "pgd"
    kind = AttackKind.ITERATIVE
    backends = tuple(BACKENDS)

    def __init__(self, *, eps: float, norm: str = "linf", backend: str = "torchattacks", seed: int = 0,
                 steps: int = 10, alpha: float | None = None, random_start: bool = True, loss: str = "ce",
                 restarts: int = 1, schedule: str = "constant") -> None:
        super().__init__(eps=eps, norm=norm, backend=backend, seed=seed)
        if int(steps) < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
        if loss != "ce" and backend != "native":
            raise ValueError(f"loss {loss!r} is offered by the native backend only, not {backend!r}")
        if int(restarts) < 1 or (int(restarts) > 1 and backend != "native"):
            raise ValueError(f"restarts must be >= 1 (above 1 with the native backend only), got {restarts}")
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
        if schedule != "constant" and backend != "native":
            raise ValueError(f"schedule {schedule!r} is offered by the native backend only, not {backend!r}")
        self.steps, self.restarts, self.schedule = int(steps), int(restarts), schedule
        default_alpha = 2 * self.eps if schedule == "cosine" else 2.5 * self.eps / self.steps
        self.alpha = float(alpha) if alpha is not None else default_alpha
        self.random_start = bool(random_start)
        self.loss = loss

    def cost(self) -> Cost:
        return Cost(self.steps * self.restarts)

    def params(self) -> dict[str, Any]:
        extra = {**({"loss": self.loss} if self.loss != "ce" else {}),
                 **({"restarts": self.restarts} if self.restarts > 1 else {}),
                 **({"schedule": self.schedule} if self.schedule != "constant" else {})}
        return {"steps": self.steps, "alpha": self.alpha, "random_start": self.random_start, **extra}

    def run(self, detector: Detector, x: Tensor, y: Tensor) -> Tensor:
        extra = {**({"loss": self.loss} if self.loss != "ce" else {}),
                 **({"restarts": self.restarts, "schedule": self.schedule, **self.early_exit(detector)}
                    if self.backend == "native" else {})}
        return BACKENDS[self.backend](detector, x, y, eps=self.eps, norm=self.norm, alpha=self.alpha,
                                      steps=self.steps, random_start=self.random_start, **extra)


@register_attack("pgd")
def pgd(**kwargs) -> PGD:
    return PGD(**kwargs)
