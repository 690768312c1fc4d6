"""APGD-CE: auto-PGD with a step-size schedule and momentum, on cross-entropy.

Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks", ICML 2020. AutoAttack's DLR and targeted losses need three or more
classes; with two logits dfbench uses the CE variant (and margin losses in CW / Square).

Arguments: ``eps``, ``norm`` ("linf" | "l2"), ``steps`` (default 20), ``restarts`` (default 1),
``backend`` ("torchattacks").

Example::

    x_adv = create_attack("apgd", eps=8 / 255, steps=20, restarts=2).perturb(detector, x, y)
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from ..detectors.base import Detector
from . import _torchattacks
from .base import Attack, AttackKind, Cost, register_attack


class APGD(Attack):
    name = "apgd"
    kind = AttackKind.ITERATIVE
    backends = ("torchattacks",)

    def __init__(self, *, eps: float, norm: str = "linf", backend: str = "torchattacks", seed: int = 0,
                 steps: int = 20, restarts: int = 1) -> None:
        super().__init__(eps=eps, norm=norm, backend=backend, seed=seed)
        if int(steps) < 1 or int(restarts) < 1:
            raise ValueError(f"steps and restarts must be >= 1, got {steps}, {restarts}")
        self.steps, self.restarts = int(steps), int(restarts)

    def params(self) -> dict[str, Any]:
        return {"steps": self.steps, "restarts": self.restarts}

    def cost(self) -> Cost:
        return Cost(self.steps * self.restarts)

    def run(self, detector: Detector, x: Tensor, y: Tensor) -> Tensor:
        return _torchattacks.apgd(detector, x, y, eps=self.eps, norm=self.norm, steps=self.steps,
                                  restarts=self.restarts, seed=self.seed)


@register_attack("apgd")
def apgd(**kwargs) -> APGD:
    return APGD(**kwargs)
