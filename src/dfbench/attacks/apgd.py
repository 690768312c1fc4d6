"""APGD: auto-PGD with a step-size schedule and momentum, on cross-entropy or the logit margin.

Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks", ICML 2020. AutoAttack's DLR and targeted losses need three or more
classes; with two logits the margin ``z_y - z_other`` stands in for them (native backend).

Arguments: ``eps``, ``norm`` ("linf" | "l2"), ``steps`` (default 20), ``restarts`` (default 1),
``loss`` ("ce", default, or "margin": native only), ``backend`` ("torchattacks" | "native":
dfbench's own loop, which stops attacking a sample once it is fooled and keeps that first
adversarial, AutoAttack's rule).

Example::

    x_adv = create_attack("apgd", eps=8 / 255, steps=100, loss="margin", backend="native").perturb(detector, x, y)
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from ..detectors.base import Detector
from . import _apgd, _torchattacks
from .base import Attack, AttackKind, Cost, register_attack

LOSSES = ("ce", "margin")


class APGD(Attack):
    name = "apgd"
    kind = AttackKind.ITERATIVE
    backends = ("torchattacks", "native")

    def __init__(self, *, eps: float, norm: str = "linf", backend: str = "torchattacks", seed: int = 0,
                 steps: int = 20, restarts: int = 1, loss: str = "ce") -> None:
        super().__init__(eps=eps, norm=norm, backend=backend, seed=seed)
        if int(steps) < 1 or int(restarts) < 1:
            raise ValueError(f"steps and restarts must be >= 1, got {steps}, {restarts}")
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
        if loss != "ce" and backend != "native":
            raise ValueError(f"loss {loss!r} is offered by the native backend only, not {backend!r}")
        self.steps, self.restarts, self.loss = int(steps), int(restarts), loss

    def params(self) -> dict[str, Any]:
        return {"steps": self.steps, "restarts": self.restarts, **({"loss": self.loss} if self.loss != "ce" else {})}

    def cost(self) -> Cost:
        return Cost((self.steps + 1) * self.restarts)  # each start also takes the gradient at its start point

    def run(self, detector: Detector, x: Tensor, y: Tensor) -> Tensor:
        if self.backend == "native":
            return _apgd.apgd(detector, x, y, eps=self.eps, norm=self.norm, steps=self.steps, restarts=self.restarts,
                              loss=self.loss, **self.early_exit(detector))
        return _torchattacks.apgd(detector, x, y, eps=self.eps, norm=self.norm, steps=self.steps,
                                  restarts=self.restarts, seed=self.seed)


@register_attack("apgd")
def apgd(**kwargs) -> APGD:
    return APGD(**kwargs)
