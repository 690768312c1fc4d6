"""Crafting a job's adversarial examples, batch by batch.

:class:`Seams` are the worker's points of contact with the attack loop and the device: a test
replaces one (an out-of-memory on large batches, a flaky attack) by passing its own, instead of
patching a module. Seams of module-level functions pickle, so worker processes take them too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..attacks import Attack, create_attack
from ..data.base import Split
from ..detectors.base import Detector
from ..device import fitting_batch, module_device, to_device
from .cells import Cell
from .grid import Grid
from .prepare import Surrogates


def in_batches(fn: Callable[[Tensor, Tensor], Any], split: Split, batch_size: int, device: torch.device) -> list:
    """``fn(x, y)`` on each batch of ``split`` (moved to ``device``)."""
    return [fn(to_device(split.images[i:i + batch_size], device), to_device(split.labels[i:i + batch_size], device))
            for i in range(0, len(split), batch_size)]


def attack_in_batches(attack: Attack, detector: Detector, split: Split, batch_size: int) -> Tensor:
    """``x_adv`` ``(N, ...)`` of the whole split, on the CPU."""
    device = module_device(detector)
    return torch.cat([x.cpu() for x in in_batches(lambda x, y: attack.perturb(detector, x, y), split, batch_size,
                                                  device)])


def sweep_in_batches(attack: Attack, detector: Detector, split: Split, eps: list[float],
                     batch_size: int) -> list[Tensor]:
    """``x_adv`` of the whole split at each of ``eps`` (one sweep per batch), on the CPU."""
    device = module_device(detector)
    per_batch = in_batches(lambda x, y: attack.sweep(detector, x, y, eps), split, batch_size, device)
    return [torch.cat([b[i].cpu() for b in per_batch]) for i in range(len(eps))]


@dataclass(frozen=True)
class Seams:
    attack_in_batches: Callable[[Attack, Detector, Split, int], Tensor] = attack_in_batches
    sweep_in_batches: Callable[[Attack, Detector, Split, list[float], int], list[Tensor]] = sweep_in_batches
    fitting_batch: Callable[..., int] = fitting_batch  # the largest batch that fits the free GPU memory


class Crafter:
    """Makes the adversarial examples of a unit of cells; remembers target-independent ones."""

    def __init__(self, grid: Grid, split: Split, resolve: Surrogates, seams: Seams = Seams()) -> None:
        self.grid, self.split, self.resolve, self.seams = grid, split, resolve, seams
        self._target_independent: dict[str, Tensor] = {}

    def attack(self, cell: Cell) -> Attack:
        a = cell.attack
        attack = create_attack(a.name, eps=cell.eps, norm=a.norm, backend=a.backend, seed=cell.seed(self.grid),
                               **a.params)
        attack.prepare(self.resolve)
        return attack

    def __call__(self, unit: list[Cell], detector: Detector, batch_size: int) -> tuple[list[Tensor], str]:
        """``x_adv`` for each cell of ``unit`` and the attacks' kind."""
        attack = self.attack(unit[0])
        kind = str(attack.kind)
        if len(unit) > 1:
            return self.seams.sweep_in_batches(attack, detector, self.split, [c.eps for c in unit], batch_size), kind
        if not attack.target_independent:
            return [self.seams.attack_in_batches(attack, detector, self.split, batch_size)], kind
        key = unit[0].target_free_spec(self.grid)
        if key not in self._target_independent:
            self._target_independent[key] = self.seams.attack_in_batches(attack, detector, self.split, batch_size)
        return [self._target_independent[key]], kind
