"""Private adapter: torchattacks behind dfbench's Attack interface.

torchattacks does not check the input range, so the detector must normalize internally
(dfbench's detectors do). Its attacks take the model at construction; we build one per
call, which costs microseconds. Its CW takes the largest *other* logit as
``max((1 - onehot) * logits)``, so a masked-out 0 wins whenever the other logit is
negative; we hand it logits shifted so the smaller one is 0, which keeps every margin and
softmax and makes that max right (docs/architecture.md, "Attack backends").
"""

from __future__ import annotations

import torchattacks
from torch import Tensor, nn


class _MinLogitZero(nn.Module):
    """Logits minus their per-sample minimum: same softmax, same margins, none negative."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.training = model.training  # torchattacks restores the wrapper's mode onto the model

    def forward(self, x: Tensor) -> Tensor:
        z = self.model(x)
        return z - z.min(dim=1, keepdim=True).values


def fgsm(model: nn.Module, x: Tensor, y: Tensor, *, eps: float) -> Tensor:
    return torchattacks.FGSM(model, eps=eps)(x, y)


def pgd(model: nn.Module, x: Tensor, y: Tensor, *, eps: float, norm: str, alpha: float, steps: int,
        random_start: bool) -> Tensor:
    if norm == "linf":
        attack = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=random_start)
    else:
        attack = torchattacks.PGDL2(model, eps=eps, alpha=alpha, steps=steps, random_start=random_start)
    return attack(x, y)


def cw_l2(model: nn.Module, x: Tensor, y: Tensor, *, steps: int, binary_search_steps: int, lr: float,
          confidence: float, initial_const: float) -> Tensor:
    """Unbounded CW-L2 at the fixed constant ``initial_const`` (torchattacks has no binary search)."""
    assert binary_search_steps == 1, "torchattacks' CW has no binary search (CWL2 checks this)"
    return torchattacks.CW(_MinLogitZero(model), c=initial_const, kappa=confidence, steps=steps, lr=lr)(x, y)


def apgd(model: nn.Module, x: Tensor, y: Tensor, *, eps: float, norm: str, steps: int, restarts: int,
         seed: int) -> Tensor:
    """APGD-CE (Croce & Hein 2020); cross-entropy, since DLR needs three or more classes."""
    attack = torchattacks.APGD(model, norm="Linf" if norm == "linf" else "L2", eps=eps, steps=steps,
                               n_restarts=restarts, seed=seed, loss="ce")
    return attack(x, y)


def square(model: nn.Module, x: Tensor, y: Tensor, *, eps: float, norm: str, n_queries: int, restarts: int,
           p_init: float, seed: int) -> Tensor:
    """Square Attack (Andriushchenko et al. 2020): score-based, margin loss, no gradients."""
    attack = torchattacks.Square(model, norm="Linf" if norm == "linf" else "L2", eps=eps, n_queries=n_queries,
                                 n_restarts=restarts, p_init=p_init, loss="margin", seed=seed)
    return attack(x, y)
