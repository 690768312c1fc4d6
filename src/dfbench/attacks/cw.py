"""CW-L2: the Carlini-Wagner L2 attack, a minimum-norm attack on the logit margin.

Carlini & Wagner, "Towards Evaluating the Robustness of Neural Networks", IEEE S&P 2017.

CW looks for the *smallest* L2 perturbation that flips the decision. At a budget ``eps`` a
sample counts as broken when CW's example lies within ``eps``; where it lies farther, the
example is projected onto the eps-ball (an honest attempt at that budget), and where CW
found none, the clean input is returned. With two classes the loss is
``max(z_y - z_other, -confidence)``. In a grid, one CW run serves all of an entry's
epsilons (:meth:`CWL2.sweep`).

Arguments: ``eps`` (L2 budget), ``steps`` (Adam steps per constant, default 100),
``binary_search_steps`` (default 5; torchattacks has no binary search: 1, at ``initial_const``),
``lr`` (default 0.01), ``confidence`` (kappa, default 0), ``initial_const`` (default 0.1),
``stop_at_budget`` (default false; native backend only: a sample's search stops at the first iterate
that lies within the smallest budget and clearly fools the detector, after which no budget's count
can change; the cell's accuracies are those of the full search, but its stored examples, and so
its scores' AUC and perturbation sizes, are that first iterate rather than the smallest found),
``backend`` ("native" | "torchattacks" | "art" | "foolbox"; ART is 6-8x slower: a numpy
line search).

Example::

    x_adv = create_attack("cw", eps=0.5, norm="l2").perturb(detector, x, y)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ..detectors.base import Detector
from . import _art, _foolbox, _native, _torchattacks
from .base import Attack, AttackKind, Cost, project, register_attack

BACKENDS = {"native": _native.cw_l2, "torchattacks": _torchattacks.cw_l2, "art": _art.cw_l2,
            "foolbox": _foolbox.cw_l2}


class CWL2(Attack):
    name = "cw"
    kind = AttackKind.MINIMUM_NORM
    norms = ("l2",)
    backends = tuple(BACKENDS)

    def __init__(self, *, eps: float, norm: str = "l2", backend: str = "native", seed: int = 0, steps: int = 100,
                 binary_search_steps: int | None = None, lr: float = 0.01, confidence: float = 0.0,
                 initial_const: float = 0.1, stop_at_budget: bool = False) -> None:
        super().__init__(eps=eps, norm=norm, backend=backend, seed=seed)
        if binary_search_steps is None:
            binary_search_steps = 1 if backend == "torchattacks" else 5
        elif backend == "torchattacks" and binary_search_steps != 1:
            raise ValueError("torchattacks' CW has no binary search: binary_search_steps must be 1 (or unset)")
        if int(steps) < 1 or int(binary_search_steps) < 1:
            raise ValueError(f"steps and binary_search_steps must be >= 1, got {steps}, {binary_search_steps}")
        if not (lr > 0 and initial_const > 0 and confidence >= 0):
            raise ValueError("lr and initial_const must be > 0 and confidence >= 0")
        self.steps, self.binary_search_steps = int(steps), int(binary_search_steps)
        self.lr, self.confidence, self.initial_const = float(lr), float(confidence), float(initial_const)
        if not isinstance(stop_at_budget, bool):
            raise ValueError(f"stop_at_budget must be true or false, got {stop_at_budget!r}")
        if stop_at_budget and backend != "native":
            raise ValueError(f"stop_at_budget is offered by the native backend only, not {backend!r}")
        self.stop_at_budget = stop_at_budget

    def cost(self) -> Cost:
        return Cost(self.steps * self.binary_search_steps)

    def params(self) -> dict[str, Any]:
        return {"steps": self.steps, "binary_search_steps": self.binary_search_steps, "lr": self.lr,
                "confidence": self.confidence, "initial_const": self.initial_const,
                **({"stop_at_budget": True} if self.stop_at_budget else {})}

    def minimum_norm(self, detector: Detector, x: Tensor, y: Tensor, smallest_budget: float = -1.0) -> Tensor:
        """The backend's unbounded CW example (or ``x`` where it found none). With ``stop_at_budget``
        and early exit on for ``detector``, dfbench's loop stops searching a sample at an iterate that
        lies within ``smallest_budget`` and clearly fools: no budget's count can change after that."""
        stopping = self.stop_at_budget and self.early_exit(detector)["early_exit"]
        stop = {"stop_below": smallest_budget} if stopping else {}
        return BACKENDS[self.backend](detector, x, y, steps=self.steps, binary_search_steps=self.binary_search_steps,
                                      lr=self.lr, confidence=self.confidence, initial_const=self.initial_const, **stop)

    def run(self, detector: Detector, x: Tensor, y: Tensor) -> Tensor:
        return self._at_budget(detector, x, y, self.minimum_norm(detector, x, y, self.eps), self.eps)

    def run_sweep(self, detector: Detector, x: Tensor, y: Tensor, eps_values: Sequence[float]) -> list[Tensor]:
        """``x_adv`` for each eps from one CW run (its counts do not depend on which eps it ran for)."""
        x_cw = self.minimum_norm(detector, x, y, min((e for e in eps_values if e > 0), default=-1.0)).detach()
        return [self._at_budget(detector, x, y, x_cw, eps) for eps in eps_values]

    @staticmethod
    def _at_budget(model: Detector, x: Tensor, y: Tensor, x_cw: Tensor, eps: float) -> Tensor:
        """CW's example projected onto the eps-ball where it fooled ``model``, else ``x``."""
        with torch.no_grad():
            fooled = model(x_cw).argmax(1) != y
        keep = fooled.view(-1, *([1] * (x.ndim - 1)))
        return torch.where(keep, project(x, x_cw, eps, "l2"), x)


@register_attack("cw")
def cw(**kwargs) -> CWL2:
    return CWL2(**kwargs)
