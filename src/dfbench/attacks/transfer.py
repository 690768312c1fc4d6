"""Transfer attack: adversarial examples crafted on a surrogate detector, scored on the target.

Papernot, McDaniel & Goodfellow, "Transferability in Machine Learning", 2016. The attacker
has white-box access to a *surrogate* (any registered detector, or the target's architecture
trained from another seed) and none to the target. The examples do not depend on the target,
so the harness crafts them once per surrogate and scores them on every detector of a grid:
the surrogate x target matrix.

Arguments: ``eps``, ``norm``, ``surrogate`` (a registered detector name, or a Detector),
``surrogate_seed`` (train the surrogate from this seed; default: the grid's seed + 1, so
that a surrogate of the target's own architecture is an independently trained model and
never the target itself),
``base`` (the white-box attack run on the surrogate, default "pgd"), ``backend`` (the base
attack's backend), and any of the base attack's own arguments (``steps=10`` ...).

Example::

    attack = create_attack("transfer", eps=8 / 255, surrogate=other_detector, steps=10)
    x_adv = attack.perturb(target_detector, x, y)
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from ..detectors.base import Detector, detectors
from .base import BACKEND_MODULES, Attack, AttackKind, Cost, Resolver, attacks, register_attack

DEFAULT_BASE = "pgd"


class Transfer(Attack):
    name = "transfer"
    kind = AttackKind.TRANSFER
    backends = (*BACKEND_MODULES, "native")
    target_independent = True

    def __init__(self, *, eps: float, norm: str = "linf", backend: str = "torchattacks", seed: int = 0,
                 surrogate: str | Detector, surrogate_seed: int | None = None, base: str = DEFAULT_BASE,
                 **base_params: Any) -> None:
        super().__init__(eps=eps, norm=norm, backend=backend, seed=seed)
        if base == self.name:
            raise ValueError("a transfer attack's base cannot be another transfer attack")
        self.base = attacks.create(base, eps=eps, norm=norm, backend=backend, seed=seed, **base_params)
        self.base.first_adversarial = False  # the surrogate's first mistake is no transfer example
        if self.base.kind in (AttackKind.QUERY, AttackKind.ENSEMBLE):
            raise ValueError(f"base {base!r} is a {self.base.kind} attack; use a white-box one (fgsm, pgd, ...)")
        self.surrogate: Detector | None
        if isinstance(surrogate, Detector):
            self.surrogate_name, self.surrogate = type(surrogate).__name__, surrogate
        else:
            detectors.get(surrogate)  # unknown name -> one-line error now
            self.surrogate_name, self.surrogate = surrogate, None  # resolved by prepare()
        if surrogate_seed is not None and (isinstance(surrogate_seed, bool) or int(surrogate_seed) < 0):
            raise ValueError(f"surrogate_seed must be a non-negative integer, got {surrogate_seed!r}")
        self.surrogate_seed = None if surrogate_seed is None else int(surrogate_seed)

    def params(self) -> dict[str, Any]:
        seed = {} if self.surrogate_seed is None else {"surrogate_seed": self.surrogate_seed}
        return {"surrogate": self.surrogate_name, **seed, "base": self.base.name, **self.base.params()}

    def cost(self) -> Cost:
        return self.base.cost()  # on the surrogate, once for every target

    @staticmethod
    def matrix_labels(params: dict[str, Any], backend: str) -> tuple[str, str]:
        """The transfer matrix's row labels of a cell with these recorded ``params``: the surrogate
        (``custom_cnn (seed 1)``) and the attack run on it (``pgd (torchattacks) steps=10``)."""
        surrogate = str(params.get("surrogate", "unknown surrogate"))
        if "surrogate_seed" in params:
            surrogate += f" (seed {params['surrogate_seed']})"
        own = {k: v for k, v in params.items() if k not in ("surrogate", "surrogate_seed", "base")}
        crafted = " ".join([f"{params.get('base', DEFAULT_BASE)} ({backend})",
                            *(f"{k}={v}" for k, v in sorted(own.items()))])
        return surrogate, crafted

    def prepare(self, resolve: Resolver) -> None:
        if self.surrogate is None:
            seed = {} if self.surrogate_seed is None else {"seed": self.surrogate_seed}
            self.surrogate = resolve(self.surrogate_name, seed)

    def run(self, detector: Detector, x: Tensor, y: Tensor) -> Tensor:
        if self.surrogate is None:
            raise RuntimeError(f"transfer attack: surrogate {self.surrogate_name!r} not resolved; call prepare()")
        return self.base.perturb(self.surrogate, x, y)


@register_attack("transfer")
def transfer(**kwargs) -> Transfer:
    return Transfer(**kwargs)
