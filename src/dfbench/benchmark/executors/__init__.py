"""Executors: where a grid's jobs run. The driver (driver.run_grid) alone writes the store.

- ``InProcess``: jobs one after another in this process (the default).
- ``Processes(n)``: n spawned worker processes, sent one job at a time, so a worker that
  dies (killed, out of memory, a crash in native code) is charged to the job it held:
  the job is retried on a fresh worker up to ``retries`` times, then its cells are recorded
  as failed with the cause, and the rest of the grid finishes.
- ``RayExecutor``: jobs as Ray tasks (local or ``address``), one CPU each or a share of a GPU;
  Ray retries a task whose worker died ``retries`` times; results stream back as they finish.

Every executor yields ``(job, outputs)`` pairs as jobs finish. Numbers do not depend on the
executor or on job order: every attack seeds itself from its grid entry.
"""

from __future__ import annotations

from ...errors import DfbenchError
from .base import Executor, Results
from .inprocess import InProcess
from .processes import Processes, process_main
from .ray import RayExecutor

__all__ = ["Executor", "InProcess", "Processes", "RayExecutor", "Results", "make_executor", "process_main"]


def make_executor(kind: str = "local", workers: int | None = None, address: str | None = None) -> Executor:
    """The executor a command line names: ``local`` (this process, or ``workers`` processes) or ``ray``."""
    if workers is not None and workers < 1:
        raise DfbenchError(f"--workers must be >= 1, got {workers}")
    if kind == "ray":
        return RayExecutor(address=address, workers=workers)
    if kind != "local":
        raise DfbenchError(f"--executor must be local or ray, got {kind!r}")
    if address is not None:
        raise DfbenchError("--address is for --executor ray")
    return Processes(workers) if workers and workers > 1 else InProcess()
