"""Run a grid: train or load each detector, attack it unit by unit, store every record.

Resumable: a cell whose key is already in the store is skipped, and each cell is written
in one transaction, so a run killed at any moment continues where it stopped. No work is
repeated: clean scores run once per detector and defense, the sanity probe once per view
(undefended; each defense naive and adaptive), transfer examples are crafted once per
surrogate and scored on every target and defense, and a worst-case ensemble attacks a
sample fooled at a smaller eps no more. Randomized defenses score under a fixed seed. A
unit that raises is stored as failed (with its error) and retried by the next run; the rest
of the grid goes on. After every run the cross-cell sanity checks are recomputed over the
whole store.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .. import __version__
from ..attacks import Attack, create_attack
from ..attacks.base import perturbation_norms
from ..data import create_dataset
from ..data.base import Split
from ..detectors.base import Detector
from ..train import predict_scores, trained_detector
from ..train.trained import Trained
from ..defenses import attack_view
from .grid import Cell, DefenseSpec, DetectorSpec, Grid
from .metrics import classification_metrics, evasion_rate, perturbation_quality
from .sanity import check_cells, probe_detector
from .store import CellRecord, Store

log = logging.getLogger(__name__)
NAN = float("nan")
PROBE_SAMPLES = 64


@dataclass
class RunSummary:
    total: int = 0
    skipped: int = 0
    ran: int = 0
    failed: int = 0


@lru_cache(maxsize=1)
def git_sha() -> str:
    """The git commit of the dfbench source, or '' outside a checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5, check=False)
    except OSError:
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def in_batches(fn: Callable[[Tensor, Tensor], Any], split: Split, batch_size: int, device: torch.device) -> list:
    """``fn(x, y)`` on each batch of ``split`` (moved to ``device``)."""
    return [fn(split.images[i:i + batch_size].to(device), split.labels[i:i + batch_size].to(device))
            for i in range(0, len(split), batch_size)]


def attack_in_batches(attack: Attack, detector: Detector, split: Split, batch_size: int) -> Tensor:
    device = next(detector.parameters()).device
    return torch.cat([x.cpu() for x in in_batches(lambda x, y: attack.perturb(detector, x, y), split, batch_size,
                                                  device)])


def sweep_in_batches(attack: Attack, detector: Detector, split: Split, eps: list[float],
                     batch_size: int) -> list[Tensor]:
    device = next(detector.parameters()).device
    per_batch = in_batches(lambda x, y: attack.sweep(detector, x, y, eps), split, batch_size, device)
    return [torch.cat([b[i].cpu() for b in per_batch]) for i in range(len(eps))]


class Surrogates:
    """Trained detectors that attacks ask for by name (a transfer attack's surrogate), each
    loaded or trained once per run, on the grid's data. Without a seed of its own, a surrogate
    is trained from the grid's seed + 1: never the very checkpoint of a target."""

    def __init__(self, grid: Grid, cache_dir: Path) -> None:
        self.grid, self.cache_dir = grid, cache_dir
        self._loaded: dict[tuple[str, int], Detector] = {}

    def __call__(self, name: str, params: dict[str, Any]) -> Detector:
        seed = int(params.get("seed", self.grid.seed + 1))
        if (name, seed) not in self._loaded:
            self._loaded[name, seed] = trained_detector(name, self.grid.dataset, self.grid.image_size,
                                                        self.cache_dir, seed=seed).detector
        return self._loaded[name, seed]


class Crafter:
    """Makes the adversarial examples of a unit of cells; remembers target-independent ones."""

    def __init__(self, grid: Grid, split: Split, cache_dir: Path) -> None:
        self.grid, self.split = grid, split
        self.resolve = Surrogates(grid, cache_dir)
        self._target_independent: dict[str, Tensor] = {}

    def attack(self, cell: Cell) -> Attack:
        a = cell.attack
        attack = create_attack(a.name, eps=cell.eps, norm=a.norm, backend=a.backend, seed=cell.seed(self.grid),
                               **a.params)
        attack.prepare(self.resolve)
        return attack

    def __call__(self, unit: list[Cell], detector: Detector) -> tuple[list[Tensor], str]:
        """``x_adv`` for each cell of ``unit`` and the attacks' kind."""
        attack = self.attack(unit[0])
        bs = self.grid.batch_size
        if len(unit) > 1:
            return sweep_in_batches(attack, detector, self.split, [c.eps for c in unit], bs), attack.kind
        if not attack.target_independent:
            return [attack_in_batches(attack, detector, self.split, bs)], attack.kind
        spec = {k: v for k, v in unit[0].spec(self.grid).items()
                if k not in ("detector", "detector_params", "training", "defenses", "adaptive", "defense_params")}
        key = json.dumps(spec, sort_keys=True)
        if key not in self._target_independent:
            self._target_independent[key] = attack_in_batches(attack, detector, self.split, bs)
        return [self._target_independent[key]], attack.kind


def measure(cell: Cell, grid: Grid, trained: Trained, split: Split, clean_scores: Tensor, x_adv: Tensor,
            adv_scores: Tensor, **fields: Any) -> CellRecord:
    """The cell's record from clean and adversarial inputs and scores ``(N,)``."""
    linf, l2 = perturbation_norms(split.images, x_adv)
    ssim, psnr = perturbation_quality(split.images, x_adv)
    changed = torch.isfinite(psnr)
    t = trained.threshold
    clean = classification_metrics(clean_scores, split.labels, t)
    adv = classification_metrics(adv_scores, split.labels, t)
    record = _record(cell, grid, trained, len(split), status="ok", error="",
                     **{f"clean_{k}": v for k, v in clean.items()}, **{f"adv_{k}": v for k, v in adv.items()},
                     evasion_rate=evasion_rate(clean_scores, adv_scores, split.labels, t),
                     linf_mean=float(linf.mean()), linf_max=float(linf.max()),
                     l2_mean=float(l2.mean()), l2_max=float(l2.max()), ssim_mean=float(ssim.mean()),
                     psnr_mean=float(psnr[changed].mean()) if changed.any() else NAN, **fields)
    return record


def _record(cell: Cell, grid: Grid, trained: Trained, n: int, **values: Any) -> CellRecord:
    numbers = dict.fromkeys(["clean_acc", "clean_auc", "clean_precision", "clean_recall", "clean_f1", "adv_acc",
                             "adv_auc", "adv_precision", "adv_recall", "adv_f1", "evasion_rate", "linf_mean",
                             "linf_max", "l2_mean", "l2_max", "ssim_mean", "psnr_mean", "seconds"], NAN)
    numbers.update(values)
    numbers.setdefault("attack_kind", "")
    return CellRecord(
        detector=cell.detector.name, training=cell.detector.training_name, weights_sha256=trained.weights_sha256,
        defenses=cell.defense.name if cell.defense else "", adaptive=int(cell.adaptive),
        attack=cell.attack.name, backend=cell.attack.backend, norm=cell.attack.norm, eps=cell.eps,
        attack_params=json.dumps(cell.attack.params, sort_keys=True), dataset=grid.dataset,
        split=grid.split, image_size=grid.image_size, n_samples=n,
        threshold=trained.threshold, seed=cell.seed(grid), grid=grid.name, grid_sha256=grid.sha256,
        dfbench_version=__version__, git_sha=git_sha(), **numbers)


def run_grid(grid: Grid, store: Store, cache_dir: Path,
             on_progress: Callable[[int, str], None] | None = None) -> RunSummary:
    """Run every cell of ``grid`` not yet in ``store``, then refresh the cross-cell sanity flags.

    ``on_progress(n_done_now, description)`` is called as cells finish or are skipped.
    """
    progress = on_progress or (lambda n, desc: None)
    summary = RunSummary(total=len(grid.cells()))
    data = create_dataset(grid.dataset, image_size=grid.image_size)
    split = data[grid.split].head(grid.max_samples)
    run = _Run(grid, store, split, data.fingerprint, Crafter(grid, split, cache_dir), summary, progress)
    for det_spec in grid.detectors:
        trained = trained_detector(det_spec.name, grid.dataset, grid.image_size, cache_dir, seed=grid.seed,
                                   weights=det_spec.weights, training=det_spec.training, **det_spec.params)
        for defense, adaptive in grid.views(det_spec):
            run.view(trained, det_spec, defense, adaptive)
    store.set_check_flags(check_cells(store.records()))
    return summary


@dataclass
class _Run:
    """The state of one run_grid call, and how it runs one detector under one defense view."""

    grid: Grid
    store: Store
    split: Split
    fingerprint: str
    crafter: Crafter
    summary: RunSummary
    progress: Callable[[int, str], None]

    def __post_init__(self) -> None:
        self.done = self.store.done_keys()
        self._clean: dict[tuple[str, str, str], Tensor] = {}  # (detector, weights, defenses) -> clean scores

    def scores(self, detector: Detector, images: Tensor) -> Tensor:
        """P(fake) under a fixed random state, so randomized defenses score reproducibly."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.grid.seed)
            return predict_scores(detector, images, self.grid.batch_size)

    def view(self, trained: Trained, det_spec: DetectorSpec, defense: DefenseSpec | None, adaptive: bool) -> None:
        """Every unfinished cell of one detector behind ``defense``, attacked naively or adaptively."""
        grid, name = self.grid, det_spec.name
        units = [[(c, c.key(grid, trained.weights_sha256, self.fingerprint)) for c in u]
                 for u in grid.units(det_spec, defense, adaptive)]
        todo = [u for u in units if any(k not in self.done for _, k in u)]
        new_cells = [(c, k) for u in todo for c, k in u if k not in self.done]
        n_cells = sum(map(len, units))
        self.summary.skipped += n_cells - len(new_cells)
        self.progress(n_cells - len(new_cells), name)
        if not todo:
            return
        scored = defense.build(trained.detector) if defense else trained.detector
        flags = ""
        with attack_view(scored, adaptive, defense.eot_samples if defense else 1) as attacked:
            try:
                view_key = (det_spec.name, trained.weights_sha256, defense.name if defense else "")
                if view_key not in self._clean:  # naive and adaptive views share them
                    self._clean[view_key] = self.scores(scored, self.split.images)
                clean_scores = self._clean[view_key]
                probe = self.split.head(PROBE_SAMPLES)
                with torch.random.fork_rng(devices=[]):  # randomized defenses: reproducible flags
                    torch.manual_seed(grid.seed)
                    flags = ",".join(probe_detector(attacked, probe.images, probe.labels, seed=grid.seed))
            except (RuntimeError, ValueError, ArithmeticError) as exc:  # a detector that raises fails its cells only
                log.error("%s failed on clean data: %s", name, exc)
                self.fail(new_cells, trained, flags, exc)
                return
            for unit in todo:
                self.unit(unit, trained, scored, attacked, clean_scores, flags)

    def unit(self, unit: list[tuple[Cell, str]], trained: Trained, scored: Detector, attacked: Detector,
             clean_scores: Tensor, flags: str) -> None:
        cells = [c for c, _ in unit]
        new = [(c, k) for c, k in unit if k not in self.done]
        first = cells[0]
        label = (f"{first.detector.name}{' ' + first.defense.name if first.defense else ''}"
                 f"{' adaptive' if first.adaptive else ''} {first.attack.name}/{first.attack.norm} eps="
                 + ",".join(f"{c.eps:.4g}" for c in cells))
        start = time.perf_counter()
        try:
            x_advs, kind = self.crafter(cells, attacked)
            seconds = (time.perf_counter() - start) / len(unit)
            for (cell, key), x_adv in zip(unit, x_advs):
                if key in self.done:  # a resumed unit: the stored record stays as it is
                    continue
                adv_scores = self.scores(scored, x_adv)
                record = measure(cell, self.grid, trained, self.split, clean_scores, x_adv, adv_scores, key=key,
                                 dataset_fingerprint=self.fingerprint, attack_kind=kind, detector_flags=flags,
                                 seconds=seconds)
                self.store.put(record, self.split.labels.tolist(), clean_scores.tolist(), adv_scores.tolist())
            self.summary.ran += len(new)
        except (RuntimeError, ValueError, ArithmeticError) as exc:  # one bad unit must not end the grid
            log.error("%s failed: %s", label, exc)
            self.fail(new, trained, flags, exc)
            return
        self.progress(len(new), label)

    def fail(self, cells: list[tuple[Cell, str]], trained: Trained, flags: str, exc: Exception) -> None:
        for cell, key in cells:
            self.store.put(_record(cell, self.grid, trained, len(self.split), key=key, status="failed",
                                   dataset_fingerprint=self.fingerprint, detector_flags=flags,
                                   error=f"{type(exc).__name__}: {exc}"[:2000]))
        self.summary.failed += len(cells)
        self.progress(len(cells), cells[0][0].detector.name if cells else "")
