"""Private adapter: Foolbox 3 behind dfbench's Attack interface.

Foolbox's pitfalls are handled here, once (docs/architecture.md, "Attack backends"): the model is wrapped with
``bounds=(0, 1)``; its PGD step defaults to ``eps/30`` (ten steps cover a third of the
ball), so the step is always passed as ``abs_stepsize``; we take the *clipped* output,
which Foolbox guarantees inside the eps-ball; its CW returns all-zero images where it
failed, so those samples get the clean input back (the success mask says which).
The criterion is plain misclassification of the label (untargeted).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _fmodel(model: nn.Module, x: Tensor):
    import foolbox

    return foolbox.PyTorchModel(model, bounds=(0.0, 1.0), device=x.device)


def fgsm(model: nn.Module, x: Tensor, y: Tensor, *, eps: float) -> Tensor:
    import foolbox

    _, clipped, _ = foolbox.attacks.LinfFastGradientAttack(random_start=False)(_fmodel(model, x), x, y,
                                                                              epsilons=eps)
    return clipped


def pgd(model: nn.Module, x: Tensor, y: Tensor, *, eps: float, norm: str, alpha: float, steps: int,
        random_start: bool) -> Tensor:
    import foolbox

    cls = foolbox.attacks.LinfPGD if norm == "linf" else foolbox.attacks.L2PGD
    attack = cls(abs_stepsize=alpha, steps=steps, random_start=random_start)
    _, clipped, _ = attack(_fmodel(model, x), x, y, epsilons=eps)
    return clipped


def cw_l2(model: nn.Module, x: Tensor, y: Tensor, *, steps: int, binary_search_steps: int, lr: float,
          confidence: float, initial_const: float) -> Tensor:
    """Unbounded CW-L2 (minimum norm); the clean input where Foolbox found no adversarial."""
    import foolbox

    attack = foolbox.attacks.L2CarliniWagnerAttack(binary_search_steps=binary_search_steps, steps=steps,
                                                   stepsize=lr, confidence=confidence,
                                                   initial_const=initial_const, abort_early=True)
    _, clipped, success = attack(_fmodel(model, x), x, y, epsilons=None)
    keep = success.view(-1, *([1] * (x.ndim - 1)))
    return torch.where(keep, clipped, x)
