"""Jobs in spawned worker processes, one job at a time each; a dead worker's job is retried."""

from __future__ import annotations

import logging
import multiprocessing as mp
import time
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path

import torch

from ...errors import DfbenchError
from ..craft import Seams
from ..grid import Grid
from ..jobs import Job, failed_outputs
from ..worker import Worker
from .base import Results, error_text, guarded, longest_first, threads_per_worker, worker_device
from .lifecycle import exit_with_parent, sigint_ignored_in_children

log = logging.getLogger(__name__)


def process_main(grid: Grid, cache_dir: Path, threads: int, device: torch.device, conn: Connection,
                 seams: Seams = Seams()) -> None:
    """A worker process: answers each job it receives on ``conn`` until it receives None (or until
    the driver dies: lifecycle.exit_with_parent)."""
    exit_with_parent()
    torch.set_num_threads(threads)
    try:
        worker, broken = Worker(grid, cache_dir, device=device, seams=seams), ""
    except Exception as exc:  # answered on every job below, so the driver records why
        worker, broken = None, f"worker start-up failed: {error_text(exc)}"
    try:
        while (job := conn.recv()) is not None:
            conn.send(failed_outputs(job, grid, broken) if worker is None else guarded(worker, job))
    except (EOFError, BrokenPipeError):  # the driver went away: nothing to answer
        return


ProcessMain = Callable[[Grid, Path, int, torch.device, Connection, Seams], None]


class Processes:
    """``workers`` spawned processes, each sent one job at a time over its own pipe, so the
    driver always knows which job a worker holds; a dead worker's job is retried."""

    def __init__(self, workers: int = 2, retries: int = 1, seams: Seams = Seams(),
                 main: ProcessMain = process_main) -> None:
        if workers < 1:
            raise DfbenchError(f"--workers must be >= 1, got {workers}")
        self.workers, self.retries, self.seams, self.main = workers, retries, seams, main

    def run(self, jobs: list[Job], grid: Grid, cache_dir: Path, trained: dict, device: torch.device) -> Results:
        ctx = mp.get_context("spawn")  # fork after torch has started threads is unsafe
        threads = threads_per_worker(self.workers)
        procs: dict[Connection, BaseProcess] = {}
        idle: list[Connection] = []
        busy: dict[Connection, int] = {}  # worker pipe -> index of the job it holds
        todo, attempts = deque(longest_first(jobs)), [0] * len(jobs)

        slots = iter(range(1 << 30))

        def start() -> None:
            parent, child = ctx.Pipe()
            p = ctx.Process(target=self.main, daemon=True,
                            args=(grid, cache_dir, threads, worker_device(device, next(slots)), child, self.seams))
            with sigint_ignored_in_children():
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
        finally:  # idle workers are told to stop; busy ones (an interrupt, an error) are stopped now
            for conn, p in procs.items():
                if conn in busy:
                    p.terminate()
                    continue
                try:
                    conn.send(None)
                except OSError:
                    pass
            deadline = time.monotonic() + 5
            for p in procs.values():
                p.join(timeout=max(0.0, deadline - time.monotonic()))
                if p.is_alive():
                    p.kill()
                    p.join()
