"""Device selection, the out-of-memory fallback, a full disk, and the store's schema migration."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from dfbench.benchmark.craft import Seams, attack_in_batches
from dfbench.benchmark.executors import InProcess
from dfbench.benchmark.grid import load_grid
from dfbench.benchmark.driver import run_grid
from dfbench.benchmark.store import SCHEMA_VERSION, Store
from dfbench.cli import app
from dfbench.device import resolve_device
from dfbench.errors import DfbenchError

VARYING = ["seconds", "created_at", "batch_size"]


def _records(store):
    return store.records().drop(columns=VARYING).sort_values("key").reset_index(drop=True)


def test_device_selection():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    for bad in ("tpu", "cuda:x", "gpu"):
        if bad == "cuda:x" and not torch.cuda.is_available():
            continue
        with pytest.raises(DfbenchError, match="--device"):
            resolve_device(bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without CUDA")
def test_cuda_without_a_gpu_is_one_clear_line(tiny_grid_file):
    result = CliRunner().invoke(app, ["run", "--grid", str(tiny_grid_file), "--device", "cuda"])
    assert result.exit_code == 2 and "no CUDA device is available" in result.output
    assert "Traceback" not in result.output


def _small_memory(attack, detector, split, batch_size):
    if batch_size > 12:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    return attack_in_batches(attack, detector, split, batch_size)


def test_out_of_memory_halves_the_batch_and_records_it(tiny_grid_file, cache_dir, tmp_path):
    reference = Store(tmp_path / "ref" / "results.sqlite")
    run_grid(load_grid(tiny_grid_file), reference, cache_dir)
    store = Store(tmp_path / "oom" / "results.sqlite")
    summary = run_grid(load_grid(tiny_grid_file), store, cache_dir,  # the grid's batch is 24
                       executor=InProcess(Seams(attack_in_batches=_small_memory)))
    assert (summary.ran, summary.failed) == (6, 0)
    assert store.records().batch_size.tolist() == [12] * 6
    assert (reference.records().batch_size == 24).all()
    a, b = _records(reference), _records(store)
    assert a.adv_acc.tolist() == b.adv_acc.tolist()  # FGSM/PGD do not depend on the batch...
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-3, atol=5e-3)  # ...float sums barely do


class FakeMemory:
    """A GPU memory probe with a fixed cost per sample and free memory (bytes)."""

    def __init__(self, per_sample: int, free: int) -> None:
        self.per_sample, self.free_bytes, self.measured = per_sample, free, 0

    def reset(self) -> None:
        pass

    def in_use(self) -> int:
        return 1_000

    def peak(self) -> int:
        return 1_000 + 2 * self.per_sample  # the probe's 2-sample step

    def free(self) -> int:
        return self.free_bytes


@pytest.mark.parametrize("per_sample,free,expected", [(1_000, 10_000, 8), (1, 10**9, 64), (10**9, 10, 1)])
def test_the_batch_is_chosen_to_fit_free_memory(trained_tiny, mini32, per_sample, free, expected):
    from dfbench.device import fitting_batch

    sample = mini32["test"].images[:4]
    assert fitting_batch(trained_tiny.detector, sample, 64, FakeMemory(per_sample, free)) == expected
    assert fitting_batch(trained_tiny.detector, sample, 64) == 64  # the CPU: the grid's batch


def test_a_fitted_batch_is_used_and_recorded(tiny_grid_file, cache_dir, tmp_path):
    store = Store(tmp_path / "results.sqlite")
    summary = run_grid(load_grid(tiny_grid_file), store, cache_dir,  # the grid's batch is 24
                       executor=InProcess(Seams(fitting_batch=lambda detector, sample, batch_size: 12)))
    assert (summary.ran, summary.failed) == (6, 0)
    assert store.records().batch_size.tolist() == [12] * 6


def test_a_full_disk_stops_with_a_clear_error_and_the_store_stays_readable(tiny_grid_file, cache_dir, tmp_path):
    path = tmp_path / "results.sqlite"
    store = Store(path)
    grid = load_grid(tiny_grid_file)
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    store.conn.execute(f"PRAGMA max_page_count = {pages + 3}")  # SQLite's own "database or disk is full"
    with pytest.raises(DfbenchError, match="cannot write to results store .*database or disk is full"):
        run_grid(grid, store, cache_dir)
    store.close()
    kept = Store(path).records()
    assert len(kept) < 6 and (kept.status == "ok").all()  # whole cells only
    resumed = run_grid(grid, Store(path), cache_dir)  # space again: the run continues
    assert resumed.ran == 6 - len(kept) and resumed.skipped == len(kept)


@pytest.mark.parametrize("version,missing", [
    (2, ["batch_size", "data_params", "precision", "frame_clean_acc", "frame_adv_acc"]),
    (3, ["data_params", "precision", "frame_clean_acc", "frame_adv_acc"]),
    (4, ["precision", "frame_clean_acc", "frame_adv_acc"]),
])
def test_older_stores_are_migrated_in_place(tmp_path, version, missing):
    path = tmp_path / "results.sqlite"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        for column in missing:
            conn.execute(f"ALTER TABLE cells DROP COLUMN {column}")
        conn.execute(f"PRAGMA user_version = {version}")
    store = Store(path)
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
    assert set(missing) <= set(store.records().columns)
    store.close()
    Store(path).close()  # opening again changes nothing
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 1")
    with pytest.raises(DfbenchError, match="has schema 1"):
        Store(path)


@pytest.fixture
def mount_point(tmp_path):
    """A tmpfs we can remount read-only (needs root and mount(8); skipped otherwise)."""
    import os
    import subprocess

    point = tmp_path / "mnt"
    point.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(point)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root and mount to make a read-only folder (root ignores file permissions)")
    yield point, lambda mode: subprocess.run(["mount", "-o", f"remount,{mode}", str(point)], check=True)
    subprocess.run(["umount", "-l", str(point)], check=False)


def test_a_read_only_results_directory_is_one_clear_line_and_the_store_survives(mount_point, tiny_grid_file,
                                                                                cache_dir):
    point, remount = mount_point
    out = point / "res"
    cli = CliRunner()
    first = cli.invoke(app, ["run", "--grid", str(tiny_grid_file), "--out", str(out), "--cache", str(cache_dir)])
    assert first.exit_code == 0, first.output
    store = Store(out / "results.sqlite")
    before = store.records().drop(columns=["created_at"])
    store.close()
    assert len(before) == 6
    remount("ro")
    for target in (out, point / "new"):
        again = cli.invoke(app, ["run", "--grid", str(tiny_grid_file), "--out", str(target), "--cache",
                                 str(cache_dir)])
        lines = again.output.strip().splitlines()
        assert again.exit_code == 2 and len(lines) == 1, again.output
        assert lines[0].startswith("dfbench: error: cannot open results store") and "writable" in lines[0]
    remount("rw")
    store = Store(out / "results.sqlite")
    after = store.records().drop(columns=["created_at"])
    store.close()
    pd.testing.assert_frame_equal(before, after)


def test_sql_stays_parameterized_for_hostile_strings(tmp_path):
    from dataclasses import fields

    from dfbench.benchmark.store import CellRecord

    hostile = "x'); DROP TABLE cells; --"
    values = {f.name: (0 if f.type in ("int", int) else 0.0 if f.type in ("float", float) else hostile)
              for f in fields(CellRecord) if f.name != "metrics"}
    store = Store(tmp_path / "results.sqlite")
    store.put(CellRecord(**{**values, "key": hostile, "status": "ok"}))
    store.set_check_flags({hostile: ["a"]})
    records = store.records()
    assert records.key.tolist() == [hostile] and records.detector.tolist() == [hostile]
    assert records.check_flags.tolist() == ["a"]


def test_a_new_store_takes_rows_without_the_columns_added_since_schema_2(tmp_path):
    """An older dfbench writing a store this one created names only the columns it knows: every
    later column has a default, as a migration would add it."""
    import sqlite3

    from dfbench.benchmark.store import ADDED_COLUMNS

    Store(tmp_path / "results.sqlite").close()
    with sqlite3.connect(tmp_path / "results.sqlite") as conn:
        info = {row[1]: row for row in conn.execute("PRAGMA table_info(cells)")}
    for name in ADDED_COLUMNS:
        notnull, default = info[name][3], info[name][4]
        assert not notnull or default is not None, name


@pytest.mark.gpu
def test_the_grid_on_cuda_matches_the_cpu(tiny_grid_file, cache_dir, tmp_path):
    cpu, gpu = Store(tmp_path / "cpu.sqlite"), Store(tmp_path / "gpu.sqlite")
    run_grid(load_grid(tiny_grid_file), cpu, cache_dir)
    run_grid(load_grid(tiny_grid_file), gpu, cache_dir, device=torch.device("cuda"))
    a, b = cpu.records().set_index("key"), gpu.records().set_index("key")
    assert ((a.adv_acc - b.adv_acc.reindex(a.index)).abs() <= 2 / 48).all()
