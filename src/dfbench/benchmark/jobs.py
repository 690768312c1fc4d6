"""Units of work and what comes back: Job, Output, RunSummary, and a cell's record.

A job is the cells of one grid entry (one eps, or every eps of a sweep) on one detector under
one defense view. Executors hand jobs to workers; workers return one Output per new cell; the
driver alone writes them to the store.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from .. import __version__
from ..metrics.cell import undefined_metrics
from .cells import Cell, DefenseSpec, DetectorSpec
from .grid import Grid
from .store import CellRecord

T = TypeVar("T")


@dataclass
class RunSummary:
    total: int = 0
    skipped: int = 0
    ran: int = 0
    failed: int = 0
    inputs_skipped: int = 0  # data files left out (unreadable, no face, named but missing)


@dataclass(frozen=True)
class Job:
    """One unit of work: the cells of one grid entry (one eps, or every eps of a sweep) on one
    detector under one defense view. Workers run jobs; the driver alone writes their outputs."""

    detector: DetectorSpec
    defense: DefenseSpec | None
    adaptive: bool
    cells: tuple[tuple[Cell, str], ...]  # (cell, key)
    done: frozenset[str]  # keys of this unit already stored (a resumed sweep)
    weights_sha256: str
    threshold: float
    fingerprint: str
    n_samples: int
    data_params: str = ""  # JSON of the dataset's load settings (files datasets), recorded per cell
    # The adaptive view's cells, one per cell, where that view is this naive one (adaptive_is_naive):
    # the same attacks on the same computation, so they take these cells' examples and numbers.
    mirrors: tuple[tuple[Cell, str], ...] = ()

    @property
    def new_cells(self) -> list[tuple[Cell, str]]:
        return [(c, k) for c, k in (*self.cells, *self.mirrors) if k not in self.done]

    def with_examples(self, x_advs: Sequence[T]) -> list[tuple[Cell, str, T]]:
        """(cell, key, its adversarial examples) for each cell and mirror, given the cells' examples."""
        pairs = list(zip(self.cells, x_advs, strict=True))
        if self.mirrors:
            pairs += zip(self.mirrors, x_advs, strict=True)
        return [(c, k, x) for (c, k), x in pairs]

    @property
    def label(self) -> str:
        first = self.cells[0][0]
        return (f"{first.detector.name}{' ' + first.defense.name if first.defense else ''}"
                f"{' adaptive' if first.adaptive else ''} {first.attack.name}/{first.attack.norm} eps="
                + ",".join(f"{c.eps:.4g}" for c, _ in self.cells))


@dataclass(frozen=True)
class Output:
    """One cell's record and, when it finished, its per-sample labels and scores."""

    record: CellRecord
    labels: list[int] | None = None
    clean_scores: list[float] | None = None
    adv_scores: list[float] | None = None


@lru_cache(maxsize=1)
def git_sha() -> str:
    """The git commit of the dfbench source, or '' outside a checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5, check=False)
    except OSError:
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def cell_record(cell: Cell, grid: Grid, job: Job, *, key: str, status: str, error: str = "",
                metrics: dict[str, float] | None = None, **fields: Any) -> CellRecord:
    """The record of one cell of ``job``: its identity and provenance, ``metrics`` (all NaN when
    it did not finish) and the measured ``fields`` (attack_kind, seconds, batch_size, flags)."""
    values: dict[str, Any] = {"attack_kind": "", "detector_flags": "", "batch_size": grid.batch_size,
                              "seconds": float("nan"), **fields}
    return CellRecord(
        key=key, status=status, error=error, detector=cell.detector.name, training=cell.detector.training_name,
        weights_sha256=job.weights_sha256, defenses=cell.defenses, channel=cell.channel,
        adaptive=int(cell.adaptive), attack=cell.attack.name, backend=cell.attack.backend, norm=cell.attack.norm,
        eps=cell.eps, attack_params=json.dumps(cell.attack.params, sort_keys=True), dataset=grid.dataset,
        dataset_fingerprint=job.fingerprint, split=grid.split, image_size=grid.image_size, n_samples=job.n_samples,
        threshold=job.threshold, seed=cell.seed(grid), grid=grid.name, grid_sha256=grid.sha256,
        dfbench_version=__version__, git_sha=git_sha(), data_params=job.data_params, precision=grid.precision,
        protocol=grid.protocol_of(cell.defense),
        detector_source=f"{cell.detector.source}@{cell.detector.source_sha256}" if cell.detector.source else "",
        metrics=metrics if metrics is not None else undefined_metrics(), **values)


def pending_records(job: Job, grid: Grid) -> list[CellRecord]:
    """Records of the cells of ``job`` not stored yet, "pending" until the job writes them."""
    return [cell_record(cell, grid, job, key=key, status="pending") for cell, key in job.new_cells]


def failed_outputs(job: Job, grid: Grid, error: str, flags: str = "") -> list[Output]:
    """Failed records (with their error) for the cells of ``job`` that were not stored yet."""
    return [Output(cell_record(cell, grid, job, key=key, status="failed", error=error[:2000], detector_flags=flags))
            for cell, key in job.new_cells]
