"""Load what a grid needs before any job runs: its data, its detectors and their surrogates.

Every caller (the driver, a worker, `dfbench explain`, `dfbench pipeline`) gets a grid's
detector through :func:`load_trained`, so each one sees the checkpoint `dfbench run` uses
(the grid's weights, training and parameters) and each one retrains a cached checkpoint
whose card names other data (the dataset fingerprint changed).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..attacks import create_attack
from ..data import create_dataset
from ..data.base import ImageDataset
from ..detectors import create_detector
from ..detectors.base import Detector
from ..detectors.from_file import register_model
from ..device import place
from ..errors import ConfigError
from ..train.trained import Trained, detector_fingerprint, trained_detector
from .cells import DetectorSpec
from .grid import Grid
from .workload import Passes, Progress, grid_training, surrogate_seed, surrogate_training, unit_passes

log = logging.getLogger(__name__)
# what a broken detector or attack raises: its cells fail, the grid goes on
CELL_ERRORS = (RuntimeError, ValueError, ArithmeticError)


def load_data(grid: Grid) -> ImageDataset:
    """The grid's dataset; on video, L2 attacks are refused."""
    data = create_dataset(grid.dataset, **grid.dataset_kwargs())
    if data.modality == "video":
        check_video_attacks(grid)
    return data


def check_video_attacks(grid: Grid) -> None:
    """On clips the budget is per frame. An L-inf ball is per frame by nature; the attack
    libraries measure L2 over the whole clip, so L2 attacks on video are refused."""
    l2 = sorted({a.name for a in grid.attacks if a.norm == "l2"})
    if l2:
        raise ConfigError(f"grid {grid.name!r}: L2 attacks ({', '.join(l2)}) on video data would spend one budget "
                          "over the whole clip, not per frame; use linf attacks on video datasets")


def load_trained(grid: Grid, spec: DetectorSpec, cache_dir: Path, data: ImageDataset,
                 device: torch.device | None = None, seed: int | None = None) -> Trained:
    """``spec``'s detector as `dfbench run` evaluates it on ``grid``: its weights file, or the
    cached checkpoint (trained on ``device`` on a miss or when ``data`` changed since). On the CPU.
    A detector from a file (``spec.source``) is registered first, in whichever process runs this."""
    if spec.source:
        register_model(spec.source)
    return trained_detector(spec.name, grid.dataset, grid.image_size, cache_dir,
                            seed=grid.seed if seed is None else seed,
                            weights=Path(spec.weights) if spec.weights else None, training=spec.training,
                            data_params=grid.data_params, modality=data.modality, device=device,
                            data_fingerprint=data.fingerprint, code=spec.source_sha256, **spec.params)


def checkpoints_fingerprint(grid: Grid) -> str:
    """A digest of what the grid's trained checkpoints depend on: each detector's code fingerprint,
    arguments and training recipe, the dataset and its parameters, the image size and seed. A CI
    cache of checkpoints keyed on it is never stale (`dfbench cache-key`)."""
    parts = []
    for spec in grid.detectors:
        if spec.source:
            register_model(spec.source)
        detector = create_detector(spec.name, input_size=(grid.image_size, grid.image_size), **spec.params)
        parts.append([spec.name, spec.training, detector_fingerprint(detector, grid.image_size, spec.params),
                      spec.weights or ""])
    for name in sorted({a.params["surrogate"] for a in grid.attacks if "surrogate" in a.params}):
        surrogate = create_detector(name, input_size=(grid.image_size, grid.image_size))
        parts.append([name, "surrogate", detector_fingerprint(surrogate, grid.image_size, {}), ""])
    payload = [grid.dataset, grid.keyed_data_params(), grid.image_size, grid.seed, sorted(parts, key=json.dumps)]
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=repr).encode()).hexdigest()


class Surrogates:
    """Trained detectors that attacks ask for by name (a transfer attack's surrogate), each
    loaded or trained once, on the grid's data. Without a seed of its own, a surrogate is
    trained from the grid's seed + 1: never the very checkpoint of a target."""

    def __init__(self, grid: Grid, cache_dir: Path, data: ImageDataset, device: torch.device = torch.device("cpu"),
                 train_device: torch.device | None = None) -> None:
        self.grid, self.cache_dir, self.data, self.device = grid, cache_dir, data, device
        self.train_device = train_device or device
        self._loaded: dict[tuple[str, int], Detector] = {}

    def __call__(self, name: str, params: dict[str, Any]) -> Detector:
        seed = surrogate_seed(self.grid, params)
        if (name, seed) not in self._loaded:
            trained = load_trained(self.grid, DetectorSpec(name), self.cache_dir, self.data, self.train_device, seed)
            place(trained.detector, self.device)
            self._loaded[name, seed] = trained.detector
        return self._loaded[name, seed]


def train_surrogates(grid: Grid, cache_dir: Path, data: ImageDataset, device: torch.device) -> None:
    """Train (on ``device``; or find cached and current) every surrogate the grid's attacks ask
    for, here and once, so that workers only load them and never train the same one twice. They
    stay on the CPU here. A surrogate that cannot be trained is left to the jobs that need it:
    their cells fail with the reason."""
    resolve = Surrogates(grid, cache_dir, data, torch.device("cpu"), device)
    for a in grid.attacks:
        try:
            create_attack(a.name, eps=a.eps[0], norm=a.norm, backend=a.backend, **a.params).prepare(resolve)
        except CELL_ERRORS as exc:
            log.error("surrogate for %s could not be trained: %s", a.name, exc)


@dataclass
class Prepared:
    """A grid's data and detectors, loaded once by the driver."""

    data: ImageDataset
    n_samples: int  # in the evaluated split, after max_samples
    data_info: str  # JSON of the dataset's load settings, recorded per cell ('' for built-in data)
    trained: dict[str, Trained] = field(default_factory=dict)  # repr(DetectorSpec) -> its detector
    untrainable: dict[str, str] = field(default_factory=dict)  # repr(DetectorSpec) -> why it failed
    cells_work: float = 0.0  # every cell's work (workload.Passes.work), for the progress
    surrogates_work: float = 0.0  # training the surrogates that are not cached (train_surrogates)


def load_for_grid(grid: Grid, cache_dir: Path, device: torch.device = torch.device("cpu"),
                  given: dict[str, Trained] | None = None, progress: Progress = Progress()) -> Prepared:
    """Train (on ``device``) or load every detector of ``grid`` (surrogates: :func:`train_surrogates`);
    ``given``: detectors handed in by name, used as they are. A detector that cannot be trained
    (it raises, or breaks the interface) is listed in ``untrainable`` with the reason; the
    others go on. ``progress`` is started with the grid's whole work (training included) once the
    data is loaded, and advanced as each detector is ready."""
    data = load_data(grid)
    prepared = Prepared(data, len(data[grid.split].head(grid.max_samples)),
                        json.dumps(data.info, sort_keys=True) if data.info else "")
    given = given or {}
    training = {repr(s): Passes() if s.name in given else grid_training(grid, s, cache_dir, data)
                for s in grid.detectors}
    prepared.cells_work = sum(unit_passes(u, prepared.n_samples).work for s in grid.detectors for u in grid.units(s))
    prepared.surrogates_work = sum(p.work for p in surrogate_training(grid, cache_dir, data).values())
    progress.start(len(grid.cells()), sum((p.work for p in training.values()),
                                          prepared.cells_work + prepared.surrogates_work))
    for spec in grid.detectors:
        if spec.name in given:
            prepared.trained[repr(spec)] = given[spec.name]
            continue
        try:
            prepared.trained[repr(spec)] = load_trained(grid, spec, cache_dir, data, device)
        except CELL_ERRORS as exc:
            log.error("%s could not be trained: %s", spec.name, exc)
            prepared.untrainable[repr(spec)] = f"training failed: {type(exc).__name__}: {exc}"
        if training[repr(spec)].work:
            progress.advance(0, f"trained {spec.name} {spec.training_name}".strip(), training[repr(spec)].work)
    return prepared


def load_detector_for_grid(grid: Grid, name: str, cache_dir: Path,
                           device: torch.device | None = None) -> tuple[Trained, ImageDataset]:
    """Detector ``name`` as `dfbench run` evaluates it on ``grid`` (the grid's entry for it, if
    any), with the grid's data: for commands that look at one detector (explain, pipeline), so
    the grid's attacks are not checked against the data."""
    data = create_dataset(grid.dataset, **grid.dataset_kwargs())
    return load_trained(grid, grid.detector_spec(name), cache_dir, data, device), data
