"""How much work a grid is, in passes through the detector: for `--dry-run`'s estimate and the
progress bar's ETA over the whole grid, training included.

A unit of cells costs its attack's declared passes per sample (:meth:`Attack.cost`) on every
sample, plus one scoring pass per cell; training costs its epochs' passes over the train and
validation splits (adversarial examples and a distillation teacher included). Upper bounds where
attacks stop early (early exit, cascades) or training does (early stopping).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from ..attacks import create_attack
from ..data.base import ImageDataset
from ..detectors import Detector
from ..train.fit import TrainConfig
from ..train.trained import checkpoint_location, training_config
from .cells import Cell, DetectorSpec
from .grid import Grid

HEARTBEAT_S = 10.0  # the bar redraws this often between jobs (a hybrid's worst case runs for many minutes)
FORWARD_SHARE = 1 / 3  # a forward pass costs about a third of a forward and backward pass


@dataclass(frozen=True)
class Passes:
    """Sample passes: ``gradient`` (forward and backward to the input) and ``forward`` (scores only)."""

    gradient: float = 0.0
    forward: float = 0.0

    def __add__(self, other: Passes) -> Passes:
        return Passes(self.gradient + other.gradient, self.forward + other.forward)

    @property
    def work(self) -> float:
        """In gradient passes, a forward pass counted as :data:`FORWARD_SHARE` of one."""
        return self.gradient + FORWARD_SHARE * self.forward


def unit_passes(unit: list[Cell], n: int) -> Passes:
    """A unit of cells (one eps, or a sweep) on ``n`` samples: the attack's passes, then one scoring pass per cell."""
    a = unit[0].attack
    attack = create_attack(a.name, eps=unit[0].eps, norm=a.norm, backend=a.backend, **a.params)
    cost = attack.sweep_cost(len(unit)) if len(unit) > 1 else attack.cost()
    return Passes(n * cost.gradient, n * cost.forward + len(unit) * n)


def training_passes(config: TrainConfig, data: ImageDataset) -> Passes:
    """Epochs x (train samples x (1 + adversarial gradient passes) + validation scoring); twice for
    distillation (it trains a teacher first)."""
    adv = config.adv_ratio * (config.adv_steps if config.adv == "pgd" else 1) if config.adv else 0.0
    times = config.epochs * (2 if config.temperature > 1 else 1)
    return Passes(times * len(data["train"]) * (1 + adv), times * len(data["val"]))


def needs_training(grid: Grid, spec: DetectorSpec, cache_dir: Path, seed: int | None = None) -> bool:
    """No weights file given and no cached checkpoint for this detector on this grid's data (from
    the grid's seed, or ``seed``)."""
    if spec.weights:
        return False
    seed = grid.seed if seed is None else seed
    path = checkpoint_location(spec.name, grid.dataset, grid.image_size, cache_dir, seed, None, spec.training,
                               grid.data_params, spec.source_sha256, **spec.params)
    return not path.exists()


def grid_training(grid: Grid, spec: DetectorSpec, cache_dir: Path, data: ImageDataset) -> Passes:
    """What loading ``spec`` will cost: its training where it has no checkpoint, else nothing."""
    if not needs_training(grid, spec, cache_dir):
        return Passes()
    return training_passes(training_config(spec.training, grid.seed), data)


def surrogate_seed(grid: Grid, params: dict) -> int:
    """A surrogate's training seed: its own, else the grid's + 1 (never the very checkpoint of a target)."""
    return int(params.get("seed", grid.seed + 1))


class _Noted(Detector):
    """What :func:`surrogates_wanted` hands an attack for a surrogate: only its name is noted."""

    def classify(self, z: Tensor) -> Tensor:
        raise RuntimeError("a surrogate noted for the estimate cannot score")


def surrogates_wanted(grid: Grid) -> list[tuple[str, int]]:
    """(name, seed) of every surrogate the grid's attacks ask for in :meth:`Attack.prepare`, as
    :func:`prepare.train_surrogates` will ask; nothing is built."""
    wanted: dict[tuple[str, int], None] = {}

    def note(name: str, params: dict) -> Detector:
        wanted[name, surrogate_seed(grid, params)] = None
        return _Noted()

    for a in grid.attacks:
        create_attack(a.name, eps=a.eps[0], norm=a.norm, backend=a.backend, **a.params).prepare(note)
    return list(wanted)


def surrogate_training(grid: Grid, cache_dir: Path, data: ImageDataset) -> dict[tuple[str, int], Passes]:
    """What training each of the grid's surrogates costs, per (name, seed): nothing where cached."""
    return {(name, seed): training_passes(training_config({}, seed), data)
            if needs_training(grid, DetectorSpec(name), cache_dir, seed) else Passes()
            for name, seed in surrogates_wanted(grid)}


class Progress:
    """What a run reports as it goes, in cells and in work (:attr:`Passes.work`); this one ignores it.
    The CLI's bar shows an ETA over the whole grid from the work (`cli.py: _progress_bar`)."""

    def start(self, cells: int, work: float) -> None:
        """Before anything runs: the grid's cells and its total work, training included."""

    def advance(self, cells: int, what: str, work: float) -> None:
        """``cells`` finished, or a detector trained (0 cells): ``work`` of it done."""

    def skip(self, cells: int, what: str, work: float) -> None:
        """``cells`` found stored (or failed before any work), ``work`` that this run will not do: done,
        but not a measure of this run's speed."""
        self.advance(cells, what, work)


@contextmanager
def progress_bar() -> Iterator[Progress]:
    """A tqdm bar on stderr over the grid's work (training included), with the cells done and an ETA."""
    from tqdm import tqdm

    class Bar(Progress):
        cells = done = 0

        def start(self, cells: int, work: float) -> None:
            self.cells = cells
            bar.reset(total=max(work, 1.0))
            bar.set_description_str(f"cells 0/{cells}")

        def _count(self, cells: int, what: str, work: float) -> float:
            """Label the bar with the cells done and ``what``; the work to add (sums in another order
            may overshoot the total by a rounding)."""
            self.done += cells
            bar.set_description_str(f"cells {self.done}/{self.cells}", refresh=False)
            bar.set_postfix_str(what, refresh=False)
            return min(work, bar.total - bar.n)

        def advance(self, cells: int, what: str, work: float) -> None:
            bar.update(self._count(cells, what, work))

        def skip(self, cells: int, what: str, work: float) -> None:
            """Credited as tqdm's ``initial``: a resumed run's stored cells must not count as done in
            no time (its ETA read 00:00 for the whole first job)."""
            credit = self._count(cells, what, work)
            bar.n += credit
            bar.initial += credit
            bar.last_print_n = bar.n  # the next update's rate counts only the work done after this
            bar.refresh()

    with tqdm(total=1.0, file=sys.stderr, bar_format="{desc} {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}",
              desc="loading") as bar:
        stop = threading.Event()

        def heartbeat() -> None:  # the elapsed time moves even while every worker is inside a long job
            while not stop.wait(HEARTBEAT_S):
                bar.refresh()

        beat = threading.Thread(target=heartbeat, name="dfbench-progress", daemon=True)
        beat.start()
        try:
            yield Bar()
        finally:
            stop.set()
            beat.join()
