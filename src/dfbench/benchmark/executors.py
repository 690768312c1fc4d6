"""Executors: where a grid's jobs run. The driver (run_grid) alone writes the store.

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

import logging
import multiprocessing as mp
import os
from collections import deque
from collections.abc import Iterator
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Protocol

import torch

from ..errors import DfbenchError
from .grid import Grid
from .runner import Job, Output, Worker, failed_outputs

log = logging.getLogger(__name__)
Results = Iterator[tuple[Job, list[Output]]]


class Executor(Protocol):
    def run(self, jobs: list[Job], grid: Grid, cache_dir: Path, trained: dict, device: torch.device) -> Results: ...


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _guarded(worker: Worker, job: Job) -> list[Output]:
    """worker.run, with any other exception turned into failed records (a bug must not end the grid)."""
    try:
        return worker.run(job)
    except Exception as exc:  # recorded on the cells, with its type and message: not swallowed
        log.exception("%s failed", job.label)
        return failed_outputs(job, worker.grid, _error(exc))


class InProcess:
    """Jobs one after another in this process, reusing the detectors the driver trained."""

    def run(self, jobs: list[Job], grid: Grid, cache_dir: Path, trained: dict, device: torch.device) -> Results:
        worker = Worker(grid, cache_dir, trained, device)
        for job in jobs:
            yield job, _guarded(worker, job)


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


def _process_main(grid: Grid, cache_dir: Path, threads: int, device: torch.device, conn: Connection) -> None:
    torch.set_num_threads(threads)
    try:
        worker, broken = Worker(grid, cache_dir, device=device), ""
    except Exception as exc:  # answered on every job below, so the driver records why
        worker, broken = None, f"worker start-up failed: {_error(exc)}"
    while (job := conn.recv()) is not None:
        conn.send(failed_outputs(job, grid, broken) if worker is None else _guarded(worker, job))


class Processes:
    """``workers`` spawned processes, each sent one job at a time over its own pipe, so the
    driver always knows which job a worker holds; a dead worker's job is retried."""

    def __init__(self, workers: int = 2, retries: int = 1) -> None:
        if workers < 1:
            raise DfbenchError(f"--workers must be >= 1, got {workers}")
        self.workers, self.retries = workers, retries

    def run(self, jobs: list[Job], grid: Grid, cache_dir: Path, trained: dict, device: torch.device) -> Results:
        ctx = mp.get_context("spawn")  # fork after torch has started threads is unsafe
        threads = threads_per_worker(self.workers)
        procs: dict[Connection, mp.Process] = {}
        idle: list[Connection] = []
        busy: dict[Connection, int] = {}  # worker pipe -> index of the job it holds
        todo, attempts = deque(longest_first(jobs)), [0] * len(jobs)

        slots = iter(range(1 << 30))

        def start() -> None:
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_process_main, daemon=True,
                            args=(grid, cache_dir, threads, worker_device(device, next(slots)), child))
            p.start()
            child.close()
            procs[parent] = p
            idle.append(parent)

        for _ in range(min(self.workers, len(jobs))):
            start()
        finished = 0
        try:
            while finished < len(jobs):
                while idle and todo:
                    conn = idle.pop()
                    try:
                        conn.send(jobs[todo[0]])
                    except OSError:  # this worker died while idle: replace it, the job waits
                        procs.pop(conn).join()
                        conn.close()
                        start()
                        continue
                    busy[conn] = todo.popleft()
                wait([*busy, *(procs[c].sentinel for c in busy)])
                for conn in list(busy):
                    if conn.poll():
                        try:
                            outputs = conn.recv()
                        except (EOFError, OSError):
                            outputs = None  # died mid-reply: handled as a death below
                        if outputs is not None:
                            index = busy.pop(conn)
                            idle.append(conn)
                            finished += 1
                            yield jobs[index], outputs
                            continue
                    p = procs[conn]
                    if p.is_alive():
                        continue
                    p.join()
                    index = busy.pop(conn)
                    del procs[conn]
                    conn.close()
                    attempts[index] += 1
                    cause = f"worker process died (exit code {p.exitcode}) on attempt {attempts[index]}"
                    log.error("%s: %s", jobs[index].label, cause)
                    if attempts[index] <= self.retries:
                        todo.appendleft(index)
                    else:
                        finished += 1
                        yield jobs[index], failed_outputs(jobs[index], grid, cause)
                    if todo:
                        start()
        finally:
            for conn, p in procs.items():
                try:
                    conn.send(None)
                except OSError:
                    pass
                p.join(timeout=5)
                if p.is_alive():
                    p.kill()


_RAY_WORKER: dict[tuple[str, str], Worker] = {}


def _ray_job(grid: Grid, cache_dir: Path, threads: int, use_gpu: bool, job: Job) -> list[Output]:
    """A Ray task: the worker process keeps its Worker (detectors, clean scores) between tasks.
    Ray sets CUDA_VISIBLE_DEVICES to the GPU it assigned, so that GPU is ``cuda``."""
    torch.set_num_threads(threads)
    key = (grid.sha256 + repr(grid.detectors), str(cache_dir))
    if key not in _RAY_WORKER:
        _RAY_WORKER.clear()
        _RAY_WORKER[key] = Worker(grid, cache_dir, device=torch.device("cuda" if use_gpu else "cpu"))
    return _guarded(_RAY_WORKER[key], job)


class RayExecutor:
    """Jobs as Ray tasks on a local Ray instance or the cluster at ``address``."""

    def __init__(self, address: str | None = None, workers: int | None = None, retries: int = 1) -> None:
        try:
            import ray
        except ImportError:
            raise DfbenchError("--executor ray needs Ray: pip install 'dfbench[ray]' (or pip install ray)") from None
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
