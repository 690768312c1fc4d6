"""PGD: projected gradient descent on cross-entropy, L-inf or L2.

Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR 2018.

Arguments: ``eps`` (budget), ``norm`` ("linf" | "l2"), ``steps`` (default 10), ``alpha``
(step size; default ``2.5 * eps / steps``, Madry's rule), ``random_start`` (default True),
``backend`` ("torchattacks" | "native").

Example::

    x_adv = create_attack("pgd", eps=8 / 255, norm="linf").perturb(detector, x, y)
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from ..detectors.base import Detector
from . import _native, _torchattacks
from .base import Attack, register_attack

BACKENDS = {"native": _native.pgd, "torchattacks": _torchattacks.pgd}


class PGD(Attack):
    name = "pgd"
    backends = tuple(BACKENDS)

    def __init__(self, *, eps: float, norm: str = "linf", backend: str = "torchattacks", seed: int = 0,
                 steps: int = 10, alpha: float | None = None, random_start: bool = True) -> None:
        super().__init__(eps=eps, norm=norm, backend=backend, seed=seed)
        if int(steps) < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        self.steps = int(steps)
        self.alpha = float(alpha) if alpha is not None else 2.5 * self.eps / self.steps
        self.random_start = bool(random_start)

    def params(self) -> dict[str, Any]:
        return {"steps": self.steps, "alpha": self.alpha, "random_start": self.random_start}

    def run(self, detector: Detector, x: Tensor, y: Tensor) -> Tensor:
        return BACKENDS[self.backend](detector, x, y, eps=self.eps, norm=self.norm, alpha=self.alpha,
                                      steps=self.steps, random_start=self.random_start)


@register_attack("pgd")
def pgd(**kwargs) -> PGD:
    return PGD(**kwargs)
