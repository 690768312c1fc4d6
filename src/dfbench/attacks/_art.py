"""Private adapter: the Adversarial Robustness Toolbox (ART) behind dfbench's Attack interface.

ART's pitfalls are handled here, once (docs/architecture.md, "Attack backends"): it works on numpy float32 arrays,
channels first (we convert both ways); it needs ``clip_values=(0, 1)`` or its outputs leave
the image range; ``nb_classes=2`` for our two logits; ``device_type`` defaults to 'gpu';
its PGD defaults are MNIST-scale (eps 0.3, step 0.1, 100 iterations, no random start), so
every parameter is passed explicitly. The detector's parameters are already frozen by
``Attack.perturb``, so ART computes input gradients only.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import Tensor, nn

_ORD = {"linf": np.inf, "l2": 2}


def classifier(model: nn.Module, x: Tensor):
    """Wrap ``model`` (logits over 2 classes) as an ART PyTorchClassifier for inputs like ``x``."""
    from art.estimators.classification import PyTorchClassifier

    with _device_of(x):
        return PyTorchClassifier(model=model, loss=nn.CrossEntropyLoss(), input_shape=tuple(x.shape[1:]),
                                 nb_classes=2, clip_values=(0.0, 1.0), channels_first=True,
                                 device_type="gpu" if x.is_cuda else "cpu")


def _device_of(x: Tensor) -> contextlib.AbstractContextManager:
    """ART puts the model on cuda:<current device>: make that ``x``'s device."""
    return torch.cuda.device(x.device) if x.is_cuda else contextlib.nullcontext()


def _run(attack, x: Tensor, y: Tensor) -> Tensor:
    x_np = x.detach().cpu().numpy().astype(np.float32)
    with _device_of(x):
        x_adv = attack.generate(x=x_np, y=y.detach().cpu().numpy())
    return torch.from_numpy(np.asarray(x_adv, dtype=np.float32)).to(x.device)


def fgsm(model: nn.Module, x: Tensor, y: Tensor, *, eps: float) -> Tensor:
    from art.attacks.evasion import FastGradientMethod

    attack = FastGradientMethod(classifier(model, x), norm=np.inf, eps=eps, eps_step=eps, targeted=False,
                                num_random_init=0, batch_size=len(x))
    return _run(attack, x, y)


def pgd(model: nn.Module, x: Tensor, y: Tensor, *, eps: float, norm: str, alpha: float, steps: int,
        random_start: bool) -> Tensor:
    from art.attacks.evasion import ProjectedGradientDescentPyTorch

    attack = ProjectedGradientDescentPyTorch(classifier(model, x), norm=_ORD[norm], eps=eps, eps_step=alpha,
                                             max_iter=steps, targeted=False, num_random_init=int(random_start),
                                             batch_size=len(x), verbose=False)
    return _run(attack, x, y)


def cw_l2(model: nn.Module, x: Tensor, y: Tensor, *, steps: int, binary_search_steps: int, lr: float,
          confidence: float, initial_const: float) -> Tensor:
    """Unbounded CW-L2 (minimum norm); ART returns the input where it finds no adversarial."""
    from art.attacks.evasion import CarliniL2Method

    attack = CarliniL2Method(classifier(model, x), confidence=confidence, targeted=False, learning_rate=lr,
                             binary_search_steps=binary_search_steps, max_iter=steps,
                             initial_const=initial_const, batch_size=len(x), verbose=False)
    return _run(attack, x, y)
