"""Run a grid: train or load each detector, attack it unit by unit, store every record.

Resumable: a cell whose key is already in the store is skipped, and each cell is written
in one transaction, so a run killed at any moment continues where it stopped. No work is
repeated: clean scores and the sanity probe run once per detector, transfer examples are
crafted once per surrogate and scored on every target, and a worst-case ensemble attacks a
sample fooled at a smaller eps no more. A unit that raises is stored as failed (with its
error) and retried by the next run; the rest of the grid goes on. After every run the
cross-cell sanity checks are recomputed over the whole store.
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
from .grid import Cell, Grid
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
        spec = {k: v for k, v in unit[0].spec(self.grid).items() if k not in ("detector", "detector_params")}
        key = json.dumps(spec, sort_keys=True)
        if key not in self._target_independent:
            self._target_independent[key] = attack_in_batches(attack, detector, self.split, bs)
        return [self._target_independent[key]], attack.kind


def measure(cell: Cell, grid: Grid, trained: Trained, split: Split, clean_scores: Tensor, x_adv: Tensor,
            **fields: Any) -> tuple[CellRecord, Tensor]:
    """Score ``x_adv`` and build the cell's record; returns it and the adversarial scores ``(N,)``."""
    adv_scores = predict_scores(trained.detector, x_adv, grid.batch_size)
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
    return record, adv_scores


def _record(cell: Cell, grid: Grid, trained: Trained, n: int, **values: Any) -> CellRecord:
    numbers = dict.fromkeys(["clean_acc", "clean_auc", "clean_precision", "clean_recall", "clean_f1", "adv_acc",
                             "adv_auc", "adv_precision", "adv_recall", "adv_f1", "evasion_rate", "linf_mean",
                             "linf_max", "l2_mean", "l2_max", "ssim_mean", "psnr_mean", "seconds"], NAN)
    numbers.update(values)
    numbers.setdefault("attack_kind", "")
    return CellRecord(
        detector=cell.detector.name, weights_sha256=trained.weights_sha256, defenses="",
        attack=cell.attack.name, backend=cell.attack.backend, norm=cell.attack.norm, eps=cell.eps,
        attack_params=json.dumps(cell.attack.params, sort_keys=True), dataset=grid.dataset,
        split=grid.split, image_size=grid.image_size, n_samples=n,
        threshold=trained.threshold, seed=cell.seed(grid), grid=grid.name, grid_sha256=grid.sha256,
        dfbench_version=__version__, git_sha=git_sha(), **numbers)


def _store_failed(store: Store, cells: list[tuple[Cell, str]], grid: Grid, trained: Trained, n: int,
                  fingerprint: str, flags: str, exc: Exception) -> None:
    for cell, key in cells:
        store.put(_record(cell, grid, trained, n, key=key, status="failed", dataset_fingerprint=fingerprint,
                          detector_flags=flags, error=f"{type(exc).__name__}: {exc}"[:2000]))


def run_grid(grid: Grid, store: Store, cache_dir: Path,
             on_progress: Callable[[int, str], None] | None = None) -> RunSummary:
    """Run every cell of ``grid`` not yet in ``store``, then refresh the cross-cell sanity flags.

    ``on_progress(n_done_now, description)`` is called as cells finish or are skipped.
    """
    progress = on_progress or (lambda n, desc: None)
    summary = RunSummary(total=len(grid.cells()))
    data = create_dataset(grid.dataset, image_size=grid.image_size)
    split = data[grid.split].head(grid.max_samples)
    crafter = Crafter(grid, split, cache_dir)
    done = store.done_keys()
    for det_spec in grid.detectors:
        trained = trained_detector(det_spec.name, grid.dataset, grid.image_size, cache_dir, seed=grid.seed,
                                   weights=det_spec.weights, **det_spec.params)
        units = [[(c, c.key(grid, trained.weights_sha256, data.fingerprint)) for c in u]
                 for u in grid.units(det_spec)]
        todo = [u for u in units if any(k not in done for _, k in u)]
        n_cells, n_todo = sum(map(len, units)), sum(k not in done for u in todo for _, k in u)
        summary.skipped += n_cells - n_todo
        progress(n_cells - n_todo, det_spec.name)
        if not todo:
            continue
        new_cells = [(c, k) for u in todo for c, k in u if k not in done]
        try:
            clean_scores = predict_scores(trained.detector, split.images, grid.batch_size)
            probe = split.head(PROBE_SAMPLES)
            flags = ",".join(probe_detector(trained.detector, probe.images, probe.labels, seed=grid.seed))
        except (RuntimeError, ValueError, ArithmeticError) as exc:  # a detector that raises fails its cells only
            log.error("%s failed on clean data: %s", det_spec.name, exc)
            _store_failed(store, new_cells, grid, trained, len(split), data.fingerprint, "", exc)
            summary.failed += len(new_cells)
            progress(len(new_cells), det_spec.name)
            continue
        for unit in todo:
            cells = [c for c, _ in unit]
            new = [(c, k) for c, k in unit if k not in done]
            label = f"{det_spec.name} {cells[0].attack.name}/{cells[0].attack.norm} eps=" + \
                ",".join(f"{c.eps:.4g}" for c in cells)
            start = time.perf_counter()
            try:
                x_advs, kind = crafter(cells, trained.detector)
                seconds = (time.perf_counter() - start) / len(unit)
                for (cell, key), x_adv in zip(unit, x_advs):
                    if key in done:  # a resumed unit: the stored record stays as it is
                        continue
                    record, adv_scores = measure(cell, grid, trained, split, clean_scores, x_adv, key=key,
                                                 dataset_fingerprint=data.fingerprint, attack_kind=kind,
                                                 detector_flags=flags, seconds=seconds)
                    store.put(record, split.labels.tolist(), clean_scores.tolist(), adv_scores.tolist())
                summary.ran += len(new)
            except (RuntimeError, ValueError, ArithmeticError) as exc:  # one bad unit must not end the grid
                log.error("%s failed: %s", label, exc)
                _store_failed(store, new, grid, trained, len(split), data.fingerprint, flags, exc)
                summary.failed += len(new)
            progress(len(new), label)
    store.set_check_flags(check_cells(store.records()))
    return summary
