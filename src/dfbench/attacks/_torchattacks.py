"""Private adapter: run torchattacks' FGSM / PGD / PGDL2 behind dfbench's Attack interface.

torchattacks does not check the input range, so the detector must normalize internally
(dfbench's detectors do). Its attacks take the model at construction; we build one per call,
which costs microseconds.
"""

from __future__ import annotations

import torchattacks
from torch import Tensor, nn


def fgsm(model: nn.Module, x: Tensor, y: Tensor, *, eps: float) -> Tensor:
    return torchattacks.FGSM(model, eps=eps)(x, y)


def pgd(model: nn.Module, x: Tensor, y: Tensor, *, eps: float, norm: str, alpha: float, steps: int,
        random_start: bool) -> Tensor:
    if norm == "linf":
        attack = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=random_start)
    else:
        attack = torchattacks.PGDL2(model, eps=eps, alpha=alpha, steps=steps, random_start=random_start)
    return attack(x, y)
