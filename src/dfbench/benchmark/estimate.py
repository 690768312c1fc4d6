"""`dfbench run --dry-run`: the cells and jobs of a grid and an estimate of their time, before any work.

The grid is loaded (and so checked) exactly as a run loads it. Then a short probe measures,
per detector and defense view, the seconds per sample of a forward pass and of a forward and
backward pass to the input (on untrained weights of the same architecture: time does not depend
on the weights). Each job's estimate is its attack's declared passes (:meth:`Attack.cost`) times
those, plus scoring; training, where no checkpoint is cached, is the epochs times the train and
validation passes (adversarial training, distillation and transfer surrogates included). Estimates are upper bounds
where an attack or training stops early (cascades, early stopping).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from ..defenses import attack_view
from ..detectors import create_detector
from ..detectors.base import Detector
from ..detectors.from_file import register_model
from ..detectors.per_frame import for_modality
from ..device import place, to_device
from .grid import Grid
from .prepare import CELL_ERRORS, load_data
from .workload import Passes, grid_training, surrogate_training, unit_passes

log = logging.getLogger(__name__)

PROBE_BATCH = 64  # at most; the grid's batch when smaller (per-sample time depends on the batch)


@dataclass(frozen=True)
class ViewEstimate:
    """One detector view (undefended, or a defense attacked naively or adaptively)."""

    detector: str
    view: str
    cells: int
    jobs: int
    seconds: float


@dataclass(frozen=True)
class GridEstimate:
    views: list[ViewEstimate]
    training: dict[str, float]  # detector label -> seconds to train (0: cached or given weights)

    grid: str
    device: str

    @property
    def total(self) -> float:
        return sum(v.seconds for v in self.views) + sum(self.training.values())

    def lines(self) -> list[str]:
        """The estimate as text: training per detector, then each view, then the total."""
        out = [f"{label}: {f'training about {s / 60:.1f} min' if s else 'checkpoint cached'}"
               for label, s in self.training.items()]
        wide = max((len(v.detector) for v in self.views), default=0), max((len(v.view) for v in self.views), default=0)
        out += [f"{v.detector:>{wide[0]}} {v.view:<{wide[1]}} {v.cells:4d} cells {v.jobs:4d} jobs  about "
                f"{v.seconds / 60:6.1f} min" for v in self.views]  # columns as wide as the longest name
        cells, jobs = sum(v.cells for v in self.views), sum(v.jobs for v in self.views)
        out.append(f"{self.grid}: {cells} cells in {jobs} jobs, about {self.total / 60:.1f} min on {self.device} "
                   f"(training {sum(self.training.values()) / 60:.1f} min; an upper bound where attacks or training "
                   "stop early)")
        return out


def _per_sample(detector: Detector, x: Tensor, backward: bool) -> float:
    """Seconds per sample of one pass over ``x`` (best of 3, after a warm-up)."""
    best = float("inf")
    for i in range(4):
        start = time.perf_counter()
        if backward:
            z = x.clone().requires_grad_(True)
            detector(z)[:, 1].sum().backward()
        else:
            with torch.no_grad():
                detector(x)
        if i:
            best = min(best, time.perf_counter() - start)
    return best / len(x)


def _seconds(passes: Passes, grad: float, fwd: float) -> float:
    return passes.gradient * grad + passes.forward * fwd


def estimate_grid(grid: Grid, cache_dir: Path, device: torch.device = torch.device("cpu")) -> GridEstimate:
    """Cells, jobs and estimated seconds per detector view, and training time where not cached."""
    data = load_data(grid)
    split = data[grid.split].head(grid.max_samples)
    n, probe = len(split), to_device(split.images[:min(PROBE_BATCH, grid.batch_size)], device)
    views, training, size = [], {}, (grid.image_size, grid.image_size)
    for spec in grid.detectors:
        if spec.source:
            register_model(spec.source)
        detector = for_modality(create_detector(spec.name, input_size=size, **spec.params), data.modality, spec.name)
        place(detector, device).eval()
        grad, fwd = _per_sample(detector, probe, True), _per_sample(detector, probe, False)
        label = spec.name + (f" {spec.training_name}" if spec.training_name else "")
        training[label] = _seconds(grid_training(grid, spec, cache_dir, data), grad, fwd)
        for defense, adaptive in grid.views(spec):
            units = grid.units(spec, defense, adaptive)
            if adaptive and defense is not None and defense.adaptive_is_naive(detector):  # the naive jobs write it
                name = f"{defense.name} (adaptive = naive)"
                views.append(ViewEstimate(label, name, sum(len(u) for u in units), 0, 0.0))
                continue
            scored = defense.build(detector) if defense else detector
            target = defense.attack_target(detector, scored, adaptive) if defense else scored
            with attack_view(target, adaptive, defense.eot_samples if defense else 1) as attacked:
                v_grad, v_fwd = _per_sample(attacked, probe, True), _per_sample(scored, probe, False)
            seconds = n * v_fwd + sum(_seconds(unit_passes(unit, n), v_grad, v_fwd) for unit in units)  # + clean
            mode = ('channel-aware' if defense and defense.channel else 'adaptive') if adaptive else 'naive'
            name = f"{defense.name} ({mode})" if defense else "undefended"
            views.append(ViewEstimate(label, name, sum(len(u) for u in units), len(units), seconds))
    for (name, seed), passes in surrogate_training(grid, cache_dir, data).items():  # transfer attacks' surrogates
        seconds = 0.0
        if passes.work:
            try:
                surrogate = for_modality(create_detector(name, input_size=size), data.modality, name)
            except CELL_ERRORS as exc:  # its cells will fail with the reason; the rest still runs
                log.warning("surrogate %s cannot be built: %s", name, exc)
            else:
                place(surrogate, device).eval()
                seconds = _seconds(passes, _per_sample(surrogate, probe, True), _per_sample(surrogate, probe, False))
        training[f"{name} (surrogate, seed {seed})"] = seconds
    return GridEstimate(views, training, grid.name, str(device))
