"""FGSM: one signed-gradient step of size eps on cross-entropy (L-inf).

Goodfellow, Shlens & Szegedy, "Explaining and Harnessing Adversarial Examples", ICLR 2015.

Arguments: ``eps`` (L-inf budget), ``backend`` ("torchattacks" | "art" | "foolbox" | "native").

Example::

    x_adv = create_attack("fgsm", eps=4 / 255).perturb(detector, x, y)
"""

from __future__ import annotations

from torch import Tensor

from ..detectors.base import Detector
from . import _art, _foolbox, _native, _torchattacks
from .base import Attack, AttackKind, register_attack

BACKENDS = {"torchattacks": _torchattacks.fgsm, "art": _art.fgsm, "foolbox": _foolbox.fgsm,
            "native": _native.fgsm}


class FGSM(Attack):
    name = "fgsm"
    kind = AttackKind.SINGLE_STEP
    norms = ("linf",)
    backends = tuple(BACKENDS)

    def __init__(self, *, eps: float, norm: str = "linf", backend: str = "torchattacks", seed: int = 0) -> None:
        super().__init__(eps=eps, norm=norm, backend=backend, seed=seed)

    def run(self, detector: Detector, x: Tensor, y: Tensor) -> Tensor:
        return BACKENDS[self.backend](detector, x, y, eps=self.eps)


@register_attack("fgsm")
def fgsm(**kwargs) -> FGSM:
    return FGSM(**kwargs)
