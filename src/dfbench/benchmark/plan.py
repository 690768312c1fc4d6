"""Plan a grid: the jobs whose cells are not stored yet (no training, no compute)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .grid import Grid
from .jobs import Job, Output, failed_outputs
from .prepare import Prepared

NAN = float("nan")


@dataclass
class Plan:
    jobs: list[Job] = field(default_factory=list)
    skipped: int = 0  # cells already in the store
    untrainable: list[Output] = field(default_factory=list)  # failed records of detectors that could not be trained


def plan(grid: Grid, done: set[str], prepared: Prepared) -> Plan:
    """One job per unit of work (``Grid.units``) with cells not in ``done``; the cells of an
    untrainable detector become failed records, under weights ``untrained``."""
    out = Plan()
    fingerprint, n, info = prepared.data.fingerprint, prepared.n_samples, prepared.data_info
    for spec in grid.detectors:
        trained, why = prepared.trained.get(repr(spec)), prepared.untrainable.get(repr(spec), "")
        for defense, adaptive in grid.views(spec):
            for unit in grid.units(spec, defense, adaptive):
                if trained is None:
                    job = Job(spec, defense, adaptive, tuple((c, c.key(grid, "untrained", fingerprint)) for c in unit),
                              frozenset(), "untrained", NAN, fingerprint, n, info)
                    out.untrainable += failed_outputs(job, grid, why)
                    continue
                cells = tuple((c, c.key(grid, trained.weights_sha256, fingerprint)) for c in unit)
                stored = frozenset(k for _, k in cells if k in done)
                out.skipped += len(stored)
                if len(stored) < len(cells):
                    out.jobs.append(Job(spec, defense, adaptive, cells, stored, trained.weights_sha256,
                                        trained.threshold, fingerprint, n, info))
    return out
