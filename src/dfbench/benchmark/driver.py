"""Run a grid: plan -> prepare -> execute -> store. What `dfbench run` and `dfbench check` call.

Resumable: a cell whose key is already in the store is skipped, and each cell is written in
one transaction, so a run killed at any moment continues where it stopped. No work is
repeated: detectors and surrogates are trained or loaded here, once, before any job; workers
share clean scores per detector and defense, the sanity probe per view, transfer examples per
surrogate, and a worst-case ensemble attacks a sample fooled at a smaller eps no more. The cells
planned are stored as pending first, so a result read after a stop knows what it lacks. A job
that raises is stored as failed (with its error) and retried by the next run; the rest of the
grid goes on. A stored cell of this grid's protocol under an older digest takes the current
one (same key, same numbers). After every run the cross-cell sanity checks are recomputed over
the whole store. See docs/architecture.md for the stages.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from ..errors import ConfigError
from ..train.trained import Trained
from .executors import Executor, InProcess
from .grid import Grid, require_detectors
from .jobs import RunSummary, pending_records
from .plan import plan
from .prepare import load_for_grid, train_surrogates
from .sanity import check_cells
from .store import Store
from .workload import Progress, unit_passes

log = logging.getLogger(__name__)


def run_grid(grid: Grid, store: Store, cache_dir: Path, on_progress: Progress | None = None,
             executor: Executor | None = None, device: torch.device = torch.device("cpu"),
             given: dict[str, Trained] | None = None) -> RunSummary:
    """Run every cell of ``grid`` not yet in ``store``, then refresh the cross-cell sanity flags.

    ``on_progress`` (:class:`Progress`) hears the grid's total work, then each trained detector,
    the stored cells and each finished job, so an ETA covers training too. The executor
    (default: in this process) runs the jobs on ``device``; records are written here, one cell
    per transaction, as they stream back. ``given``: detectors handed in by name (``dfbench.evaluate``),
    which only the in-process executor can run.
    """
    require_detectors(grid)
    progress = on_progress or Progress()
    summary = RunSummary(total=len(grid.cells()))
    if given and executor is not None and not isinstance(executor, InProcess):
        raise ConfigError("a model handed in runs in this process only (worker processes cannot import it)")
    prepared = load_for_grid(grid, Path(cache_dir), device, given, progress)
    summary.inputs_skipped = len(prepared.data.skipped)
    work = plan(grid, store.done_keys(), prepared)
    summary.skipped = work.skipped
    if relabelled := store.set_protocols(work.stored):
        log.info("%d stored cells of this grid's protocol under an older digest now carry the current one",
                 relabelled)
    store.put_pending([r for job in work.jobs for r in pending_records(job, grid)])  # what a stop leaves undone
    n = prepared.n_samples
    job_work = {job.cells[0][1]: unit_passes([c for c, _ in job.cells], n).work for job in work.jobs}
    for out in work.untrainable:
        store.put(out.record)
    summary.failed += len(work.untrainable)
    progress.skip(work.skipped + len(work.untrainable), "already done or untrainable",
                     prepared.cells_work - sum(job_work.values()))
    if work.jobs:
        train_surrogates(grid, Path(cache_dir), prepared.data, device)
    if prepared.surrogates_work and work.jobs:
        progress.advance(0, "trained surrogates", prepared.surrogates_work)
    elif prepared.surrogates_work:
        progress.skip(0, "surrogates not needed", prepared.surrogates_work)
    for job, outputs in (executor or InProcess()).run(work.jobs, grid, Path(cache_dir), prepared.trained, device):
        for out in outputs:
            store.put(out.record, out.labels, out.clean_scores, out.adv_scores)
            if out.record.status == "ok":
                summary.ran += 1
            else:
                summary.failed += 1
        progress.advance(len(outputs), job.label, job_work[job.cells[0][1]])
    store.set_check_flags(check_cells(store.records()))
    return summary
