"""Adapter overhead: each library's PGD-10 called directly vs through dfbench's adapter.

"direct" is the library as a careful user calls it: the model in eval mode with its
parameters frozen (otherwise ART and Foolbox also compute weight gradients: docs/architecture.md, "Attack backends"),
every parameter given; "direct, unfrozen" is the same call on a model whose parameters
still require gradients. dfbench adds the frozen context, seeding, the threshold view,
ART's numpy round trip and the budget check. Target: dfbench / direct time <= 1.10.

    .venv/bin/python benchmarks/adapter_overhead.py [--batch 80] [--size 64] [--repeats 5]
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
import torch
import torchattacks
from _timing import compare

from dfbench import create_attack, create_detector
from dfbench.attacks.base import frozen


def art_direct(model, x, y, eps, alpha, steps):
    from art.attacks.evasion import ProjectedGradientDescentPyTorch
    from art.estimators.classification import PyTorchClassifier

    clf = PyTorchClassifier(model=model, loss=torch.nn.CrossEntropyLoss(), input_shape=tuple(x.shape[1:]),
                            nb_classes=2, clip_values=(0.0, 1.0), device_type="cpu")
    attack = ProjectedGradientDescentPyTorch(clf, norm=np.inf, eps=eps, eps_step=alpha, max_iter=steps,
                                             num_random_init=1, batch_size=len(x), verbose=False)
    return attack.generate(x=x.numpy(), y=y.numpy())


def foolbox_direct(model, x, y, eps, alpha, steps):
    import foolbox

    fmodel = foolbox.PyTorchModel(model, bounds=(0, 1))
    return foolbox.attacks.LinfPGD(abs_stepsize=alpha, steps=steps, random_start=True)(fmodel, x, y, epsilons=eps)


def torchattacks_direct(model, x, y, eps, alpha, steps):
    return torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=True)(x, y)


DIRECT = {"torchattacks": torchattacks_direct, "art": art_direct, "foolbox": foolbox_direct}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=80)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    logging.getLogger("art").setLevel(logging.WARNING)
    torch.manual_seed(0)
    model = create_detector("custom_cnn", input_size=(args.size, args.size)).eval()
    x = torch.rand(args.batch, 3, args.size, args.size)
    y = torch.randint(0, 2, (args.batch,))
    eps, steps = 8 / 255, 10
    alpha = 2.5 * eps / steps

    def frozen_call(fn):
        with frozen(model):
            return fn(model, x, y, eps, alpha, steps)

    print(f"PGD-10, custom_cnn, batch {args.batch}x3x{args.size}x{args.size}, {torch.get_num_threads()} threads, "
          f"median of {args.repeats}; ratio = time / direct time (target <= 1.10)")
    for lib, direct in DIRECT.items():
        attack = create_attack("pgd", eps=eps, steps=steps, backend=lib)
        med = compare({"direct": lambda: frozen_call(direct),
                       "direct, unfrozen": lambda: direct(model, x, y, eps, alpha, steps),
                       "dfbench": lambda: attack.perturb(model, x, y)}, args.repeats)
        base = med["direct"]
        print(f"  {lib:12s} direct {base * 1000:7.1f} ms | unfrozen {med['direct, unfrozen'] / base:.2f}x | "
              f"dfbench {med['dfbench'] / base:.2f}x")


if __name__ == "__main__":
    main()
