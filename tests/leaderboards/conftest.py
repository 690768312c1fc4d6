"""A small finished run (tiny detector, one defense) that the leaderboard tests submit and build."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import tiny_grid

LB_GRID = tiny_grid("lb", """
[[attacks]]
name = "fgsm"
eps = [0, "4/255", "8/255"]
[[attacks]]
name = "pgd"
norm = "linf"
steps = 3
eps = ["4/255", "8/255"]
[[attacks]]
name = "pgd"
norm = "l2"
steps = 3
eps = [0.25]
[[defenses]]
chain = [{ name = "jpeg", quality = 75 }]
""")


@pytest.fixture(scope="session")
def lb_grid(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("grid") / "lb.toml"
    path.write_text(LB_GRID)
    return path


@pytest.fixture(scope="session")
def lb_run(lb_grid, cache_dir, tmp_path_factory) -> Path:
    """A results directory holding the finished `lb` grid (read-only for tests: copy before writing)."""
    from dfbench.benchmark.grid import load_grid
    from dfbench.benchmark.driver import run_grid
    from dfbench.benchmark.store import Store

    out = tmp_path_factory.mktemp("lb-run")
    store = Store(out / "results.sqlite")
    summary = run_grid(load_grid(lb_grid), store, cache_dir)
    store.close()
    assert summary.failed == 0
    return out


@pytest.fixture(scope="session")
def lb_entries(lb_run) -> list[dict]:
    from dfbench.benchmark.store import Store
    from dfbench.leaderboards import entries_from_store

    return entries_from_store(Store(lb_run / "results.sqlite"), flags_allowed=True)


@pytest.fixture
def results(lb_run, tmp_path) -> Path:
    """A private copy of the finished run."""
    return Path(shutil.copytree(lb_run, tmp_path / "results"))
