"""Jobs one after another in this process (the default executor)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..craft import Seams
from ..grid import Grid
from ..jobs import Job
from ..worker import Worker
from .base import Results, guarded


class InProcess:
    """Jobs one after another in this process, reusing the detectors the driver trained."""

    def __init__(self, seams: Seams = Seams()) -> None:
        self.seams = seams

    def run(self, jobs: list[Job], grid: Grid, cache_dir: Path, trained: dict, device: torch.device) -> Results:
        worker = Worker(grid, cache_dir, trained, device, self.seams)
        for job in jobs:
            yield job, guarded(worker, job)
