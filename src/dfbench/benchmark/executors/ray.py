"""Jobs as Ray tasks on a local Ray instance or a cluster."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from ...errors import DfbenchError
from ..grid import Grid
from ..jobs import Job, Output, failed_outputs
from ..worker import Worker
from .base import Results, guarded, longest_first
from .lifecycle import probe_ray_address

log = logging.getLogger(__name__)


_RAY_WORKER: dict[tuple[str, str], Worker] = {}


def _ray_job(grid: Grid, cache_dir: Path, threads: int, use_gpu: bool, job: Job) -> list[Output]:
    """A Ray task: the worker process keeps its Worker (detectors, clean scores) between tasks.
    Ray sets CUDA_VISIBLE_DEVICES to the GPU it assigned, so that GPU is ``cuda``."""
    torch.set_num_threads(threads)
    key = (grid.sha256 + repr(grid.detectors), str(cache_dir))
    if key not in _RAY_WORKER:
        _RAY_WORKER.clear()
        _RAY_WORKER[key] = Worker(grid, cache_dir, device=torch.device("cuda" if use_gpu else "cpu"))
    return guarded(_RAY_WORKER[key], job)


class RayExecutor:
    """Jobs as Ray tasks on a local Ray instance or the cluster at ``address``."""

    def __init__(self, address: str | None = None, workers: int | None = None, retries: int = 1) -> None:
        try:
            import ray
        except ImportError:
            raise DfbenchError("--executor ray needs Ray: pip install 'dfbench[ray]' (or pip install ray)") from None
        probe_ray_address(address)  # before any training: an address where nothing answers fails in seconds
        self.ray, self.address, self.workers, self.retries = ray, address, workers, retries

    def run(self, jobs: list[Job], grid: Grid, cache_dir: Path, trained: dict, device: torch.device) -> Results:
        ray = self.ray
        if not jobs:
            return
        started = not ray.is_initialized()
        if started:
            try:
                ray.init(address=self.address, num_cpus=self.workers if self.address is None else None,
                         include_dashboard=False, log_to_driver=False, configure_logging=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise DfbenchError(f"cannot start or reach Ray{' at ' + self.address if self.address else ''}: "
                                   f"{exc}") from None
        try:
            cpus = int(ray.available_resources().get("CPU", 1))
            gpus = ray.available_resources().get("GPU", 0)
            slots = max(1, self.workers or cpus)
            options = {"num_cpus": 1, "max_retries": self.retries, "retry_exceptions": False}
            use_gpu = bool(gpus) and device.type == "cuda"
            if device.type == "cuda" and not gpus:
                log.warning("--device %s, but the Ray cluster has no GPUs: running on CPUs", device)
            if use_gpu:  # share each GPU between the tasks that run at once
                options["num_gpus"] = min(1.0, gpus / slots)
            task = ray.remote(**options)(_ray_job)
            threads = max(1, cpus // slots)
            pending = {task.remote(grid, cache_dir, threads, use_gpu, jobs[i]): jobs[i] for i in longest_first(jobs)}
            while pending:
                (ref,), _ = ray.wait(list(pending), num_returns=1)
                job = pending.pop(ref)
                try:
                    outputs = ray.get(ref)
                except ray.exceptions.RayError as exc:  # the worker died on every attempt, or the task could not run
                    log.error("%s: %s", job.label, exc)
                    outputs = failed_outputs(job, grid, f"ray task failed ({self.retries} retries on worker death): "
                                                        f"{type(exc).__name__}: {str(exc)[-500:]}")
                yield job, outputs
        finally:
            if started:
                ray.shutdown()
