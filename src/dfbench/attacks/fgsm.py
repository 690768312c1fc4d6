"""FGSM: one signed-gradient step of size eps on cross-entropy (L-inf).

Goodfellow, Shlens & Szegedy, "Explaining and Harnessing Adversarial Examples", ICLR 2015.

Arguments: ``eps`` (L-inf budget), ``backend`` ("torchattacks" | "native").

Example::

    x_adv = create_attack("fgsm", eps=4 / 255).perturb(detector, x, y)
"""

from __future__ import annotations

from torch import Tensor

from ..detectors.base import Detector
from . import _native, _torchattacks
from .base import Attack, register_attack


class FGSM(Attack):
    name = "fgsm"
    norms = ("linf",)
    backends = ("torchattacks", "native")

    def __init__(self, *, eps: float, norm: str = "linf", backend: str = "torchattacks", seed: int = 0) -> None:
        super().__init__(eps=eps, norm=norm, backend=backend, seed=seed)

    def run(self, detector: Detector, x: Tensor, y: Tensor) -> Tensor:
        if self.backend == "torchattacks":
            return _torchattacks.fgsm(detector, x, y, eps=self.eps)
        return _native.pgd(detector, x, y, eps=self.eps, norm="linf", alpha=self.eps, steps=1, random_start=False)


@register_attack("fgsm")
def fgsm(**kwargs) -> FGSM:
    return FGSM(**kwargs)
