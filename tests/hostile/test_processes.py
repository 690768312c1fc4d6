"""Interrupts and dead drivers: workers end with the driver, quietly, and nothing is left running.

Each test starts `dfbench run --workers 2` as a real process group (as a terminal would), waits
until the workers are at work, then interrupts, terminates or kills the driver.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import tiny_grid

# Never meant to finish (every test interrupts it): torchattacks' PGD runs every one of its steps,
# where dfbench's own loop stops early once the tiny detector is fooled, which ended a 3000-step run
# before the interrupt on a fresh clone
LONG_GRID = tiny_grid("long", '[[attacks]]\nname = "pgd"\nbackend = "torchattacks"\nsteps = 100000\n'
                              'eps = ["1/255", "2/255", "3/255", "4/255", "5/255", "6/255"]\n', batch_size=48)


def _descendants(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


@pytest.fixture
def busy_run(tmp_path, cache_dir):
    """A driver whose two workers are attacking; yields (process, worker pids)."""
    grid = tmp_path / "long.toml"
    grid.write_text(LONG_GRID)
    proc = subprocess.Popen([sys.executable, "-m", "dfbench", "run", "--grid", str(grid), "--workers", "2",
                             "--out", str(tmp_path / "out"), "--cache", str(cache_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "MPLCONFIGDIR": str(tmp_path / "mpl")})
    deadline = time.monotonic() + 120
    workers: set[int] = set()
    while time.monotonic() < deadline and len(workers) < 2:
        assert proc.poll() is None, proc.communicate()
        workers = {p for p in _descendants(proc.pid)
                   if "process_main" in Path(f"/proc/{p}/cmdline").read_bytes().decode(errors="replace")
                   or b"multiprocessing.spawn" in Path(f"/proc/{p}/cmdline").read_bytes()}
        time.sleep(0.5)
    assert len(workers) >= 2, "the workers did not start"
    time.sleep(12)  # past their imports and into their first jobs
    assert proc.poll() is None, "the run ended before it could be interrupted"
    yield proc, _descendants(proc.pid)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _gone_within(pids: set[int], seconds: float) -> set[int]:
    deadline = time.monotonic() + seconds
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return _alive(pids)


def _ended_quietly(proc, code: int, words: str) -> None:
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, (proc.returncode, err[-2000:])
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-3000:]
    errors = [line for line in err.splitlines() if line.startswith("dfbench: error: ")]
    assert errors == [f"dfbench: error: {words}; run the same command again to resume"], err[-2000:]


def test_ctrl_c_ends_driver_and_workers_quietly(busy_run):
    proc, family = busy_run
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
    _ended_quietly(proc, 130, "interrupted")
    assert not _gone_within(family, 10), "a worker outlived the driver"


@pytest.mark.slow
def test_sigterm_ends_driver_and_workers_quietly(busy_run):
    proc, family = busy_run
    proc.send_signal(signal.SIGTERM)  # to the driver only, as a job scheduler would
    _ended_quietly(proc, 143, "terminated")
    assert not _gone_within(family, 10), "a worker outlived the driver"


@pytest.mark.slow
def test_workers_of_a_killed_driver_exit_within_seconds(busy_run):
    proc, family = busy_run
    proc.kill()  # SIGKILL: the driver runs no cleanup at all
    proc.wait(timeout=10)
    assert not _gone_within(family, 10), "a worker outlived its killed driver"
