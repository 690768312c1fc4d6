"""End to end: a tiny grid through the runner and the store, resumed and repeated."""

import pytest

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pandas as pd

from dfbench.benchmark.grid import load_grid
from dfbench.benchmark.driver import run_grid
from dfbench.benchmark.store import Store
from tests.conftest import tiny_grid

VOLATILE = ["seconds", "created_at"]


def _records(path):
    df = Store(path).records().drop(columns=VOLATILE)
    return df.sort_values("key").reset_index(drop=True)


def test_run_stores_every_cell_and_resumes(tiny_grid_file, cache_dir, tmp_path):
    grid = load_grid(tiny_grid_file)
    store = Store(tmp_path / "results.sqlite")
    first = run_grid(grid, store, cache_dir)
    assert (first.ran, first.skipped, first.failed) == (6, 0, 0)
    records = store.records()
    assert len(records) == 6 and (records.n_samples == 48).all()
    assert (records.adv_acc <= records.clean_acc + 1e-9).all()
    assert (records.linf_max[records.norm == "linf"] <= records.eps[records.norm == "linf"] + 1e-6).all()
    assert len(store.samples()) == 6 * 48
    second = run_grid(grid, store, cache_dir)
    assert (second.ran, second.skipped) == (0, 6)
    assert len(store.records()) == 6


def test_same_seed_same_records(tiny_grid_file, cache_dir, tmp_path):
    grid = load_grid(tiny_grid_file)
    for name in ("a", "b"):
        run_grid(grid, Store(tmp_path / name / "results.sqlite"), cache_dir)
    a, b = _records(tmp_path / "a" / "results.sqlite"), _records(tmp_path / "b" / "results.sqlite")
    assert len(a) == 6 and (a.status == "ok").all()  # two empty stores would compare equal too
    pd.testing.assert_frame_equal(a, b)


def test_a_failing_cell_is_recorded_and_the_grid_goes_on(tiny_grid_file, cache_dir, tmp_path):
    from dfbench.benchmark.craft import Seams, attack_in_batches
    from dfbench.benchmark.executors import InProcess

    def flaky(attack, detector, split, batch_size):
        if attack.name == "fgsm":
            raise RuntimeError("boom")
        return attack_in_batches(attack, detector, split, batch_size)

    store = Store(tmp_path / "results.sqlite")
    summary = run_grid(load_grid(tiny_grid_file), store, cache_dir, executor=InProcess(Seams(attack_in_batches=flaky)))
    assert (summary.ran, summary.failed) == (4, 2)
    failed = store.records(status="failed")
    assert len(failed) == 2 and failed.error.str.contains("boom").all()
    again = run_grid(load_grid(tiny_grid_file), store, cache_dir)  # failed cells are retried
    assert (again.ran, again.skipped, again.failed) == (2, 4, 0)
    assert store.records(status="failed").empty


def _cli(args):
    return [sys.executable, "-m", "dfbench", *args]


KILL_GRID = tiny_grid("kill", """
[[attacks]]
name = "fgsm"
eps = ["1/255", "2/255", "3/255", "4/255", "5/255", "6/255", "7/255", "8/255"]
[[attacks]]
name = "pgd"
norm = "linf"
steps = 20
eps = ["1/255", "2/255", "3/255", "4/255", "5/255", "6/255", "7/255", "8/255"]
""", batch_size=24)


def _cells(db) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as c:
        try:
            return c.execute("SELECT count(*) FROM cells WHERE status = 'ok'").fetchone()[0]  # not pending
        except sqlite3.OperationalError:
            return 0


@pytest.mark.slow  # slow: ~2 min of kill-and-resume cycles (resuming past stored cells is in the default run)
def test_killed_at_random_moments_many_times_resumes_to_the_same_results(cache_dir, tmp_path):
    """SIGKILL the runner at random moments (seeded) until the grid is done, resuming each time;
    the store then equals an uninterrupted run's: no lost, duplicated or half-written record."""
    grid = tmp_path / "kill.toml"
    grid.write_text(KILL_GRID)
    env = {**os.environ, "DFBENCH_CACHE": str(cache_dir)}
    reference = tmp_path / "reference"
    subprocess.run(_cli(["run", "--grid", str(grid), "--out", str(reference)]), env=env, check=True,
                   capture_output=True)
    db, rng, mid_grid = tmp_path / "killed" / "results.sqlite", random.Random(7), []
    for _ in range(10):
        before = _cells(db)
        if before == 16:
            break
        proc = subprocess.Popen(_cli(["run", "--grid", str(grid), "--out", str(db.parent)]), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        target, deadline = before + rng.randint(1, 2), time.time() + 120
        while time.time() < deadline and proc.poll() is None and _cells(db) < target:
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.05))  # a random moment: mid-cell, mid-write or between cells
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        n = len(Store(db).records())  # readable after every kill
        mid_grid.append(0 < n < 16)
    assert sum(mid_grid) >= 3, mid_grid
    subprocess.run(_cli(["run", "--grid", str(grid), "--out", str(db.parent)]), env=env, check=True,
                   capture_output=True)
    expected = _records(reference / "results.sqlite")
    assert len(expected) == 16 and (expected.status == "ok").all()
    pd.testing.assert_frame_equal(expected, _records(db))
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT count(*) FROM samples").fetchone()[0] == 16 * 48
        assert c.execute("SELECT count(*) FROM cells").fetchone()[0] == 16


def test_detector_parameters_get_their_own_checkpoint(tmp_path, fake_training):
    from dfbench.train import trained

    paths = fake_training
    trained.trained_detector("test_tiny_cnn", "mini", 32, tmp_path)
    trained.trained_detector("test_tiny_cnn", "mini", 32, tmp_path, width=4)
    trained.trained_detector("test_tiny_cnn", "mini", 32, tmp_path, width=4)  # cached now
    assert len(paths) == 2 and paths[0] != paths[1]


def test_a_new_plan_replaces_the_unfinished_rows_of_its_cells_under_old_keys(tmp_path):
    """A cell left pending (or failed) by a dfbench whose rules have changed since has another key now:
    a new plan drops that row when it plans the cell again or the cell is finished under its new key
    (it would keep its entry unfinished for ever), and nothing else: not a finished row, not a
    pending row of another cell."""
    from dataclasses import fields, replace

    from dfbench.benchmark.store import CellRecord

    values = {f.name: (0 if f.type in ("int", int) else 0.0 if f.type in ("float", float) else "x")
              for f in fields(CellRecord) if f.name != "metrics"}
    cell = CellRecord(**{**values, "eps": 8 / 255, "status": "pending", "key": "old rules"})
    other_cell = replace(cell, key="other cell", eps=16 / 255)
    another_seed = replace(cell, key="another seed", seed=1)
    finished = replace(cell, key="finished under old rules", attack="pgd", status="ok")
    failed = replace(cell, key="failed under old rules", attack="pgd", status="failed", error="boom")
    store = Store(tmp_path / "results.sqlite")
    store.put_pending([cell, other_cell, another_seed])
    store.put(finished)
    store.put(failed)
    store.put_pending([replace(cell, key="new rules"), replace(finished, key="new pgd rules", status="pending")])
    rows = store.records(status=None)
    assert dict(zip(rows.key, rows.status)) == {"new rules": "pending", "other cell": "pending",
                                                "another seed": "pending", "finished under old rules": "ok",
                                                "new pgd rules": "pending"}
    time.sleep(0.01)  # created_at counts milliseconds
    store.put(replace(other_cell, key="other cell, new rules", status="ok"))  # finished by an older run
    store.put(replace(finished, key="finished under old rules, eps 1", eps=1.0))
    time.sleep(0.01)
    store.put(replace(failed, key="failed under new rules", eps=1.0))  # newer than its cell's old ok row: kept
    store.put_pending([])  # a run with nothing left to plan
    rows = store.records(status=None)
    store.close()
    assert "other cell" not in set(rows.key) and {"new rules", "another seed"} <= set(rows.key)
    assert "failed under new rules" in set(rows.key)


def test_a_resumed_store_takes_the_protocol_of_the_grid_that_plans_it(tiny_grid_file, cache_dir, tmp_path,
                                                                          monkeypatch):
    """A store written before the protocol's digest changed (here: the rules that choose an attack's
    output) keeps its cells, whose keys and numbers are unchanged, under the protocol its grid now has:
    one entry per view, not the old cells under the old name and the new ones under the new."""
    grid = load_grid(tiny_grid_file)
    store = Store(tmp_path / "results.sqlite")
    run_grid(grid, store, cache_dir)
    old = set(store.records().protocol)
    monkeypatch.setattr("dfbench.benchmark.protocol.RANDOMIZED_RULES", 2)
    assert grid.protocol not in old and len(old) == 1
    again = run_grid(grid, store, cache_dir)
    assert (again.ran, again.skipped) == (0, 6)
    assert set(store.records().protocol) == {grid.protocol}
    assert store.set_protocols({k: "other@12345678" for k in store.done_keys()}) == 0  # another protocol's name
    assert store.set_protocols({k: "tiny@12345678" for k in store.done_keys()} | {"no such key": "tiny@1"}) == 6


def test_a_second_grid_leaves_the_cells_it_shares_to_the_grid_that_stored_them(tiny_grid_file, cache_dir, tmp_path):
    """Same key, another grid: relabelling the cell would take it from the first grid's entries."""
    first = load_grid(tiny_grid_file)
    second_file = tmp_path / "second.toml"
    second_file.write_text(tiny_grid_file.read_text().replace('name = "tiny"', 'name = "second"', 1))
    second = load_grid(second_file)
    assert second.protocol.startswith("second@")
    store = Store(tmp_path / "results.sqlite")
    run_grid(first, store, cache_dir)
    again = run_grid(second, store, cache_dir)
    assert (again.ran, again.skipped) == (0, 6)
    assert set(store.records().protocol) == {first.protocol}
