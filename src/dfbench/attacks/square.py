"""Square Attack: a score-based black-box attack by random square-shaped updates.

Andriushchenko, Croce, Flammarion & Hein, "Square Attack: a query-efficient black-box
adversarial attack via random search", ECCV 2020. It reads only the detector's output
scores (the margin ``z_y - z_other``), never its gradients, so it also sees through
gradient masking. Its query budget is recorded with the cell.

Arguments: ``eps``, ``norm`` ("linf" | "l2"), ``n_queries`` (the per-sample query budget,
default 1000), ``restarts`` (default 1), ``p_init`` (initial square size, default 0.8),
``backend`` ("torchattacks").

Example::

    x_adv = create_attack("square", eps=8 / 255, n_queries=500).perturb(detector, x, y)
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from ..detectors.base import Detector
from . import _torchattacks
from .base import Attack, AttackKind, Cost, register_attack


class Square(Attack):
    name = "square"
    kind = AttackKind.QUERY
    backends = ("torchattacks",)

    def __init__(self, *, eps: float, norm: str = "linf", backend: str = "torchattacks", seed: int = 0,
                 n_queries: int = 1000, restarts: int = 1, p_init: float = 0.8) -> None:
        super().__init__(eps=eps, norm=norm, backend=backend, seed=seed)
        if int(n_queries) < 1 or int(restarts) < 1:
            raise ValueError(f"n_queries and restarts must be >= 1, got {n_queries}, {restarts}")
        if not 0 < p_init <= 1:
            raise ValueError(f"p_init must be in (0, 1], got {p_init}")
        self.n_queries, self.restarts, self.p_init = int(n_queries), int(restarts), float(p_init)

    def cost(self) -> Cost:
        return Cost(0, self.n_queries * self.restarts)

    def params(self) -> dict[str, Any]:
        return {"n_queries": self.n_queries, "restarts": self.restarts, "p_init": self.p_init}

    def run(self, detector: Detector, x: Tensor, y: Tensor) -> Tensor:
        return _torchattacks.square(detector, x, y, eps=self.eps, norm=self.norm, n_queries=self.n_queries,
                                    restarts=self.restarts, p_init=self.p_init, seed=self.seed)


@register_attack("square")
def square(**kwargs) -> Square:
    return Square(**kwargs)
