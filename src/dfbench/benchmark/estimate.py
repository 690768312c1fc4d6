"""`dfbench run --dry-run`: the cells and jobs of a grid and an estimate of their time, before any work.

The grid is loaded (and so checked) exactly as a run loads it. Then a short probe measures,
per detector and defense view, the seconds per sample of a forward pass and of a forward and
backward pass to the input (on untrained weights of the same architecture: time does not depend
on the weights). Each job's estimate is its attack's declared passes (:meth:`Attack.cost`) times
those, plus scoring; training, where no checkpoint is cached, is the epochs times the train and
validation passes (adversarial training and distillation included). Estimates are upper bounds
where an attack or training stops early (cascades, early stopping).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from ..attacks import create_attack
from ..data.base import ImageDataset
from ..defenses import attack_view
from ..detectors import create_detector
from ..detectors.base import Detector
from ..detectors.from_file import register_model
from ..detectors.per_frame import for_modality
from ..device import place, to_device
from ..train.fit import TrainConfig
from ..train.trained import checkpoint_location, training_config
from .grid import Grid
from .prepare import load_data

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
        out += [f"{v.detector:>24} {v.view:<40} {v.cells:4d} cells {v.jobs:4d} jobs  about {v.seconds / 60:6.1f} min"
                for v in self.views]
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


def _training_seconds(config: TrainConfig, data: ImageDataset, grad: float, fwd: float) -> float:
    """Epochs x (train samples x (1 + adversarial passes) gradient passes + validation passes)."""
    adv = config.adv_ratio * (config.adv_steps if config.adv == "pgd" else 1) if config.adv else 0.0
    per_epoch = len(data["train"]) * grad * (1 + adv) + len(data["val"]) * fwd
    return config.epochs * per_epoch * (2 if config.temperature > 1 else 1)  # distillation trains a teacher first


def estimate_grid(grid: Grid, cache_dir: Path, device: torch.device = torch.device("cpu")) -> GridEstimate:
    """Cells, jobs and estimated seconds per detector view, and training time where not cached."""
    data = load_data(grid)
    split = data[grid.split].head(grid.max_samples)
    n, probe = len(split), to_device(split.images[:min(PROBE_BATCH, grid.batch_size)], device)
    views, training = [], {}
    for spec in grid.detectors:
        if spec.source:
            register_model(spec.source)
        size = (grid.image_size, grid.image_size)
        detector = for_modality(create_detector(spec.name, input_size=size, **spec.params), data.modality, spec.name)
        place(detector, device).eval()
        grad, fwd = _per_sample(detector, probe, True), _per_sample(detector, probe, False)
        path = checkpoint_location(spec.name, grid.dataset, grid.image_size, cache_dir, grid.seed,
                                   Path(spec.weights) if spec.weights else None, spec.training, grid.data_params,
                                   spec.source_sha256, **spec.params)
        label = spec.name + (f" {spec.training_name}" if spec.training_name else "")
        training[label] = 0.0 if path.exists() else _training_seconds(
            training_config(spec.training, grid.seed), data, grad, fwd)
        for defense, adaptive in grid.views(spec):
            scored = defense.build(detector) if defense else detector
            with attack_view(scored, adaptive, defense.eot_samples if defense else 1) as attacked:
                v_grad, v_fwd = _per_sample(attacked, probe, True), _per_sample(scored, probe, False)
            units = grid.units(spec, defense, adaptive)
            seconds = n * v_fwd  # clean scores, once per view
            for unit in units:
                a = unit[0].attack
                cost = create_attack(a.name, eps=unit[0].eps, norm=a.norm, backend=a.backend, **a.params).cost()
                seconds += n * (cost.gradient * v_grad + cost.forward * v_fwd) + len(unit) * n * v_fwd
            name = f"{defense.name} ({'adaptive' if adaptive else 'naive'})" if defense else "undefended"
            views.append(ViewEstimate(label, name, sum(len(u) for u in units), len(units), seconds))
    return GridEstimate(views, training, grid.name, str(device))
