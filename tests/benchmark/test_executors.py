"""Executors: worker processes and Ray give the in-process records; a dying worker fails only its job."""

from __future__ import annotations

import os
import sys

import pandas as pd
import pytest

from dfbench.benchmark.craft import Seams, attack_in_batches
from dfbench.benchmark.driver import run_grid
from dfbench.benchmark.executors import Processes, RayExecutor, process_main
from dfbench.benchmark.grid import load_grid
from dfbench.benchmark.worker import Worker
from dfbench.benchmark.store import Store
from dfbench.errors import DfbenchError

VARYING = ["seconds", "created_at", "git_sha"]


def _records(path):
    return Store(path).records().drop(columns=VARYING).sort_values("key").reset_index(drop=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, cache_dir):
    from .conftest import TINY_GRID

    tmp = tmp_path_factory.mktemp("ref")
    (tmp / "tiny.toml").write_text(TINY_GRID)
    run_grid(load_grid(tmp / "tiny.toml"), Store(tmp / "results.sqlite"), cache_dir)
    return tmp


def test_worker_processes_give_the_same_records(reference, cache_dir, tmp_path):
    store = Store(tmp_path / "results.sqlite")
    summary = run_grid(load_grid(reference / "tiny.toml"), store, cache_dir, executor=Processes(2))
    assert (summary.ran, summary.failed) == (6, 0)
    pd.testing.assert_frame_equal(_records(reference / "results.sqlite"), _records(store.path))


def _die_on_fgsm(attack, detector, split, batch_size):
    """A worker's attack loop that dies (as if SIGKILLed) whenever it starts an FGSM job."""
    if attack.name == "fgsm":
        os._exit(9)
    return attack_in_batches(attack, detector, split, batch_size)


def test_a_dying_worker_fails_its_own_cells_and_the_grid_finishes(reference, cache_dir, tmp_path):
    store = Store(tmp_path / "results.sqlite")
    dying = Processes(2, retries=1, seams=Seams(attack_in_batches=_die_on_fgsm))
    summary = run_grid(load_grid(reference / "tiny.toml"), store, cache_dir, executor=dying)
    assert (summary.ran, summary.failed) == (4, 2)  # the two FGSM cells, each retried once
    failed = store.records(status="failed")
    assert set(failed.attack) == {"fgsm"}
    assert failed.error.str.contains(r"worker process died \(exit code 9\) on attempt 2").all()
    ok = _records(store.path)
    ok = ok[ok.status == "ok"].reset_index(drop=True)
    ref = _records(reference / "results.sqlite")
    pd.testing.assert_frame_equal(ref[ref.attack != "fgsm"].reset_index(drop=True), ok)


def test_ray_executor_gives_the_same_records(reference, cache_dir, tmp_path):
    pytest.importorskip("ray")
    store = Store(tmp_path / "results.sqlite")
    summary = run_grid(load_grid(reference / "tiny.toml"), store, cache_dir, executor=RayExecutor(workers=2))
    assert (summary.ran, summary.failed) == (6, 0)
    pd.testing.assert_frame_equal(_records(reference / "results.sqlite"), _records(store.path))


def test_ray_missing_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(DfbenchError, match=r"pip install 'dfbench\[ray\]'"):
        RayExecutor()


def _broken_start_main(grid, cache_dir, threads, device, conn, seams):
    """A worker process whose start-up fails (as a missing dataset or a CUDA init error would)."""
    def init(self, *args, **kwargs):
        raise RuntimeError("no such dataset on this node")

    Worker.__init__ = init  # in this spawned process only
    process_main(grid, cache_dir, threads, device, conn, seams)


def test_a_worker_that_cannot_start_fails_the_cells_with_the_reason(reference, cache_dir, tmp_path):
    store = Store(tmp_path / "results.sqlite")
    summary = run_grid(load_grid(reference / "tiny.toml"), store, cache_dir,
                       executor=Processes(2, main=_broken_start_main))
    assert (summary.ran, summary.failed) == (0, 6)
    errors = store.records(status="failed").error
    assert errors.str.startswith("worker start-up failed: RuntimeError: no such dataset on this node").all()


# Loaded by every Ray worker through PYTHONPATH: the first FGSM job in the session kills its worker.
DIE_ONCE = '''
import os
marker = os.environ.get("DFBENCH_TEST_DIE_ONCE_DIR")
if marker:
    import dfbench.benchmark.worker as worker
    real_run = worker.Worker.run

    def run(self, job):
        flag = os.path.join(marker, "died")
        if job.cells[0][0].attack.name == "fgsm":
            try:  # created atomically: of two workers starting fgsm jobs at once, exactly one dies
                os.close(os.open(flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return real_run(self, job)
            os._exit(9)
        return real_run(self, job)

    worker.Worker.run = run
'''


@pytest.mark.slow  # slow: a Ray instance and a worker death (~30 s); Ray's records are compared in the default run
def test_ray_retries_a_task_whose_worker_died(reference, cache_dir, tmp_path):
    ray = pytest.importorskip("ray")
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(DIE_ONCE)
    flags = tmp_path / "flags"
    flags.mkdir()
    path = os.pathsep.join([str(tmp_path / "site"), *sys.path])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": path, "DFBENCH_TEST_DIE_ONCE_DIR": str(flags)}})
    try:
        retried = Store(tmp_path / "retried.sqlite")
        summary = run_grid(load_grid(reference / "tiny.toml"), retried, cache_dir, executor=RayExecutor(retries=1))
        assert (flags / "died").exists()  # a worker really died
        assert (summary.ran, summary.failed) == (6, 0)  # and its task ran again on a fresh worker
        pd.testing.assert_frame_equal(_records(reference / "results.sqlite"), _records(retried.path))

        (flags / "died").unlink()
        no_retry = Store(tmp_path / "no_retry.sqlite")
        summary = run_grid(load_grid(reference / "tiny.toml"), no_retry, cache_dir, executor=RayExecutor(retries=0))
        assert summary.failed == 1 and summary.ran == 5  # only the cell of the job whose worker died
        failed = no_retry.records(status="failed")
        assert failed.attack.tolist() == ["fgsm"] and failed.error.str.contains("ray task failed").all()
    finally:
        ray.shutdown()
