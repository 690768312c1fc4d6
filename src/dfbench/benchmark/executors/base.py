"""What every executor shares: the Executor protocol, job order, threads and devices per worker."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import torch

from ..grid import Grid
from ..jobs import Job, Output, failed_outputs
from ..worker import Worker

log = logging.getLogger(__name__)
Results = Iterator[tuple[Job, list[Output]]]


class Executor(Protocol):
    def run(self, jobs: list[Job], grid: Grid, cache_dir: Path, trained: dict, device: torch.device) -> Results: ...


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def guarded(worker: Worker, job: Job) -> list[Output]:
    """worker.run, with any other exception turned into failed records (a bug must not end the grid)."""
    try:
        return worker.run(job)
    except Exception as exc:  # recorded on the cells, with its type and message: not swallowed
        log.exception("%s failed", job.label)
        return failed_outputs(job, worker.grid, error_text(exc))


def longest_first(jobs: list[Job]) -> list[int]:
    """Job indices, sweeps (several eps in one unit, the longest jobs) first, so that no worker is
    left with one long job at the end while the others idle."""
    return sorted(range(len(jobs)), key=lambda i: -len(jobs[i].cells))


def threads_per_worker(workers: int) -> int:
    """CPU threads for each of ``workers`` processes sharing this machine's cores."""
    return max(1, (os.cpu_count() or 1) // workers)


def worker_device(device: torch.device, slot: int) -> torch.device:
    """Worker ``slot``'s device: a bare ``cuda`` spreads workers over every GPU, round robin."""
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", slot % torch.cuda.device_count())
    return device


