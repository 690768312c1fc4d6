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
    stored: dict[str, str] = field(default_factory=dict)  # key -> protocol of each planned cell already in the store
    untrainable: list[Output] = field(default_factory=list)  # failed records of detectors that could not be trained

    @property
    def skipped(self) -> int:
        """Cells already in the store."""
        return len(self.stored)


def plan(grid: Grid, done: set[str], prepared: Prepared) -> Plan:
    """One job per unit of work (``Grid.units``) with cells not in ``done``; the cells of an
    untrainable detector become failed records, under weights ``untrained``. Where a defense's
    adaptive view is its naive one (``DefenseSpec.adaptive_is_naive``), the naive view's jobs
    write the adaptive cells too (``Job.mirrors``): the same numbers, once."""
    out = Plan()
    fingerprint, n, info = prepared.data.fingerprint, prepared.n_samples, prepared.data_info
    for spec in grid.detectors:
        trained, why = prepared.trained.get(repr(spec)), prepared.untrainable.get(repr(spec), "")
        for defense, adaptive in grid.views(spec):
            mirrored = trained is not None and defense is not None and defense.adaptive_is_naive(trained.detector)
            if mirrored and adaptive:
                continue  # written by the naive view's jobs
            units = grid.units(spec, defense, adaptive)
            twins = grid.units(spec, defense, True) if mirrored else [[] for _ in units]
            for unit, twin in zip(units, twins, strict=True):
                if trained is None:
                    job = Job(spec, defense, adaptive, tuple((c, c.key(grid, "untrained", fingerprint)) for c in unit),
                              frozenset(), "untrained", NAN, fingerprint, n, info)
                    out.untrainable += failed_outputs(job, grid, why)
                    continue
                weights = trained.weights_sha256
                cells, mirrors = ([(c, c.key(grid, weights, fingerprint)) for c in u] for u in (unit, twin))
                stored = frozenset(k for _, k in (*cells, *mirrors) if k in done)
                out.stored.update((k, grid.protocol_of(c.defense)) for c, k in (*cells, *mirrors) if k in stored)
                if len(stored) < len(cells) + len(mirrors):
                    out.jobs.append(Job(spec, defense, adaptive, tuple(cells), stored, trained.weights_sha256,
                                        trained.threshold, fingerprint, n, info, mirrors=tuple(mirrors)))
    return out
