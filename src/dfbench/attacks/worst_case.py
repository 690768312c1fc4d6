"""Worst case over an attack list, run as a cascade (a two-class AutoAttack).

Croce & Hein (ICML 2020) report, per sample, the worst outcome over an ensemble of diverse
attacks. Their DLR and targeted losses need three or more classes, so for two-class
detectors dfbench's ensemble is configured from CE and margin attacks, e.g. APGD-CE or PGD,
CW-L2 and Square. Run as a cascade: a sample already clearly fooled is not attacked again by the
next attack, and (in :meth:`sweep`) a sample fooled at a smaller epsilon keeps that example
at every larger epsilon. Per sample, fooled-or-not equals running every attack on every
sample for attacks whose result on a sample does not depend on the rest of the batch
(deterministic ones); the saving is measured in ``benchmarks/``.

"Fooled" is the detector's own decision (:meth:`Detector.predict`, at its calibrated
threshold), the same one the leaderboard scores. Against a randomized detector (a random
resize, EOT over its draws) no sample drops out and none is carried as fooled to the next eps:
the draws that fooled it are not the draw that scores it, so every member attacks every sample
at every eps, and the example of least margin is kept.

Arguments: ``eps``, ``norm``, ``attacks`` (a list of tables, each ``{name = ..., ...}`` with
that attack's own arguments; eps, norm and seed come from the ensemble).

Example::

    attack = create_attack("worst_case", eps=8 / 255, attacks=[{"name": "apgd"}, {"name": "square"}])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ..detectors.base import Detector
from ._native import margin
from .base import FOOLED_MARGIN, Attack, AttackKind, AtThreshold, Cost, attacks, check_budget, register_attack


class WorstCase(Attack):
    name = "worst_case"
    kind = AttackKind.ENSEMBLE
    backends = ("cascade",)
    randomized_rules = True

    def __init__(self, *, eps: float, norm: str = "linf", backend: str = "cascade", seed: int = 0,
                 attacks: Sequence[dict[str, Any]] = ()) -> None:  # noqa: A002 (the grid key)
        super().__init__(eps=eps, norm=norm, backend=backend, seed=seed)
        if not attacks or not all(isinstance(a, dict) and isinstance(a.get("name"), str) for a in attacks):
            raise ValueError("attacks must be a non-empty list of tables with a 'name'")
        self.spec = [dict(a) for a in attacks]
        self.members = [self._member(i, dict(a)) for i, a in enumerate(self.spec)]

    def _member(self, i: int, spec: dict[str, Any]) -> Attack:
        name = spec.pop("name")
        if name == self.name:
            raise ValueError("worst_case cannot contain another worst_case")
        for key in ("eps", "norm", "seed"):
            if key in spec:
                raise ValueError(f"member {name!r}: '{key}' comes from the ensemble, not the member")
        member = attacks.create(name, eps=self.eps, norm=self.norm, seed=self.seed + i, **spec)
        if member.target_independent:
            raise ValueError(f"member {name!r} does not attack the target itself; give it its own grid entry")
        return member

    def cost(self) -> Cost:
        """Every member on every sample: the cascade spends less (fooled samples drop out)."""
        return sum((m.cost() for m in self.members), Cost(0))

    def sweep_cost(self, n_eps: int) -> Cost:
        """The cascade runs at each budget in turn (on fewer samples each time: an upper bound)."""
        c = self.cost()
        return Cost(c.gradient * n_eps, c.forward * n_eps)

    def params(self) -> dict[str, Any]:
        return {"attacks": [{"name": m.name, "backend": m.backend, **m.params()} for m in self.members]}

    def at(self, eps: float) -> WorstCase:
        """The same ensemble at another budget."""
        return type(self)(eps=eps, norm=self.norm, seed=self.seed, attacks=self.spec)

    def run(self, detector: Detector, x: Tensor, y: Tensor) -> Tensor:
        return self._cascade(detector, x, y, x.clone(), _attacked(detector, x, y))

    def _cascade(self, detector: Detector, x: Tensor, y: Tensor, x_adv: Tensor, alive: Tensor) -> Tensor:
        """Attack the ``alive`` samples with each member in turn. A sample keeps the example of least
        margin so far, and drops out once clearly fooled (past ``FOOLED_MARGIN``: a flip by less, which
        the scoring pass might not reproduce, leaves it to the next members)."""
        least = torch.full((len(x),), math.inf, device=x.device)
        if alive.any():
            least[alive] = _margin(detector, x_adv[alive], y[alive])
        for member in self.members:
            if not alive.any():
                break
            idx = alive.nonzero().squeeze(1)
            out = member.perturb(detector, x[idx], y[idx])
            m = _margin(detector, out, y[idx])
            lower = m < least[idx]
            x_adv[idx[lower]], least[idx[lower]] = out[lower], m[lower]
            if not detector.randomized:
                alive[idx] = least[idx] >= -FOOLED_MARGIN
        return x_adv

    def run_sweep(self, detector: Detector, x: Tensor, y: Tensor, eps_values: Sequence[float]) -> list[Tensor]:
        """``x_adv`` for each eps, smallest first; a sample clearly fooled at a smaller eps keeps that
        example and is not attacked again (every member is monotone in eps by this rule); one fooled
        by less starts the next eps from its example and keeps it unless a member finds a lower margin
        (against a randomized detector, every sample does)."""
        order = sorted(range(len(eps_values)), key=lambda i: eps_values[i])
        out: list[Tensor] = [x] * len(eps_values)
        alive, x_adv = _attacked(detector, x, y), x.clone()
        for i in order:
            eps = eps_values[i]
            x_adv = check_budget(x, self.at(eps)._cascade(detector, x, y, x_adv.clone(), alive), eps, self.norm)
            out[i] = x_adv
        return out


@torch.no_grad()
def _attacked(detector: Detector, x: Tensor, y: Tensor) -> Tensor:
    """``(N,)`` bool: the samples to attack, those ``detector`` gets right; all of them where it is
    randomized (one draw's mistake is not the scoring draw's)."""
    if detector.randomized:
        return torch.ones(len(x), dtype=torch.bool, device=x.device)
    return detector.predict(x) == y


@torch.no_grad()
def _margin(detector: Detector, x: Tensor, y: Tensor) -> Tensor:
    """``(N,)`` float32: the true class's logit minus the other's, as the attacks see them (at the threshold)."""
    return margin(AtThreshold.wrap(detector)(x), y).float()


@register_attack("worst_case")
def worst_case(**kwargs) -> WorstCase:
    return WorstCase(**kwargs)
