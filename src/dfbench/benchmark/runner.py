"""Run a grid: train or load each detector, attack it cell by cell, store every record.

Resumable: a cell whose key is already in the store is skipped, and each cell is written
in one transaction, so a run killed at any moment continues where it stopped. Clean scores
are computed once per detector. A cell that raises is stored as failed (with its error)
and retried by the next run; the rest of the grid goes on.
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

import torch

from .. import __version__
from ..attacks import create_attack
from ..attacks.base import perturbation_norms
from ..data import create_dataset
from ..data.base import Split
from ..train import predict_scores, trained_detector
from ..train.trained import Trained
from .grid import Cell, Grid
from .metrics import classification_metrics, evasion_rate
from .store import CellRecord, Store

log = logging.getLogger(__name__)
NAN = float("nan")


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


def attack_in_batches(attack, detector, split: Split, batch_size: int) -> torch.Tensor:
    device = next(detector.parameters()).device
    out = []
    for i in range(0, len(split), batch_size):
        x = split.images[i:i + batch_size].to(device)
        y = split.labels[i:i + batch_size].to(device)
        out.append(attack.perturb(detector, x, y).cpu())
    return torch.cat(out)


def run_cell(cell: Cell, grid: Grid, trained: Trained, split: Split, clean_scores: torch.Tensor,
             key: str, fingerprint: str) -> tuple[CellRecord, torch.Tensor]:
    """Attack ``split`` and measure; returns the record and the adversarial scores ``(N,)``."""
    start = time.perf_counter()
    attack = create_attack(cell.attack.name, eps=cell.eps, norm=cell.attack.norm, backend=cell.attack.backend,
                           seed=cell.seed(grid), **cell.attack.params)
    x_adv = attack_in_batches(attack, trained.detector, split, grid.batch_size)
    adv_scores = predict_scores(trained.detector, x_adv, grid.batch_size)
    linf, l2 = perturbation_norms(split.images, x_adv)
    t = trained.threshold
    clean = classification_metrics(clean_scores, split.labels, t)
    adv = classification_metrics(adv_scores, split.labels, t)
    record = _record(cell, grid, trained, key, fingerprint, len(split), status="ok", error="",
                     **{f"clean_{k}": v for k, v in clean.items()}, **{f"adv_{k}": v for k, v in adv.items()},
                     evasion_rate=evasion_rate(clean_scores, adv_scores, split.labels, t),
                     linf_mean=float(linf.mean()), linf_max=float(linf.max()),
                     l2_mean=float(l2.mean()), l2_max=float(l2.max()), seconds=time.perf_counter() - start)
    return record, adv_scores


def _record(cell: Cell, grid: Grid, trained: Trained, key: str, fingerprint: str, n: int, **values) -> CellRecord:
    numbers = dict.fromkeys(["clean_acc", "clean_auc", "clean_precision", "clean_recall", "clean_f1", "adv_acc",
                             "adv_auc", "adv_precision", "adv_recall", "adv_f1", "evasion_rate", "linf_mean",
                             "linf_max", "l2_mean", "l2_max", "seconds"], NAN)
    numbers.update(values)
    return CellRecord(
        key=key, detector=cell.detector.name, weights_sha256=trained.weights_sha256, defenses="",
        attack=cell.attack.name, backend=cell.attack.backend, norm=cell.attack.norm, eps=cell.eps,
        attack_params=json.dumps(cell.attack.params, sort_keys=True), dataset=grid.dataset,
        dataset_fingerprint=fingerprint, split=grid.split, image_size=grid.image_size, n_samples=n,
        threshold=trained.threshold, seed=cell.seed(grid), grid=grid.name, grid_sha256=grid.sha256,
        dfbench_version=__version__, git_sha=git_sha(), **numbers)


def run_grid(grid: Grid, store: Store, cache_dir: Path,
             on_progress: Callable[[int, str], None] | None = None) -> RunSummary:
    """Run every cell of ``grid`` not yet in ``store``.

    ``on_progress(n_done_now, description)`` is called as cells finish or are skipped.
    """
    progress = on_progress or (lambda n, desc: None)
    summary = RunSummary(total=len(grid.cells()))
    data = create_dataset(grid.dataset, image_size=grid.image_size)
    split = data[grid.split].head(grid.max_samples)
    done = store.done_keys()
    for det_spec in grid.detectors:
        trained = trained_detector(det_spec.name, grid.dataset, grid.image_size, cache_dir, seed=grid.seed,
                                   weights=det_spec.weights, **det_spec.params)
        cells = grid.cells(det_spec)
        keys = [c.key(grid, trained.weights_sha256, data.fingerprint) for c in cells]
        todo = [(c, k) for c, k in zip(cells, keys) if k not in done]
        summary.skipped += len(cells) - len(todo)
        progress(len(cells) - len(todo), det_spec.name)
        if not todo:
            continue
        clean_scores = predict_scores(trained.detector, split.images, grid.batch_size)
        for cell, key in todo:
            label = f"{det_spec.name} {cell.attack.name}/{cell.attack.norm} eps={cell.eps:.4g}"
            try:
                record, adv_scores = run_cell(cell, grid, trained, split, clean_scores, key, data.fingerprint)
                store.put(record, split.labels.tolist(), clean_scores.tolist(), adv_scores.tolist())
                summary.ran += 1
            except (RuntimeError, ValueError, ArithmeticError) as exc:  # one bad cell must not end the grid
                log.error("cell %s failed: %s", label, exc)
                store.put(_record(cell, grid, trained, key, data.fingerprint, len(split), status="failed",
                                  error=f"{type(exc).__name__}: {exc}"[:2000]))
                summary.failed += 1
            progress(1, label)
    return summary
