"""The README's path for an outside detector: install the example package, run, submit, build.

The package under examples/ is installed (without build isolation or downloads) into a private
folder put on PYTHONPATH, so dfbench finds it only through its `dfbench.detectors` entry point.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import tiny_grid

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dfbench-example-detector"
GRID = tiny_grid("example", """
[[attacks]]
name = "fgsm"
eps = ["4/255"]
[[attacks]]
name = "pgd"
norm = "linf"
steps = 3
eps = ["4/255", "8/255"]
""")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    site = tmp_path_factory.mktemp("site-packages")
    source = shutil.copytree(EXAMPLE, tmp_path_factory.mktemp("src") / EXAMPLE.name)  # pip builds in the tree
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--no-build-isolation",
                    "--target", str(site), str(source)], check=True, capture_output=True)
    cache = tmp_path_factory.mktemp("cache")
    return {**os.environ, "PYTHONPATH": str(site), "DFBENCH_CACHE": str(cache)}


def dfbench(env, *args):
    result = subprocess.run([sys.executable, "-m", "dfbench", *map(str, args)], env=env, capture_output=True, check=False,
                            text=True, timeout=300)
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.mark.slow  # slow: pip-installs the example package (~1 min)
def test_outside_detector_runs_submits_and_shows_on_the_leaderboard(env, tmp_path):
    from dfbench.train import cache_path

    listed = dfbench(env, "list")
    assert "example_meso4" in listed.stdout.splitlines()[0]
    # train briefly into the cache path `run` looks in (the default would train for up to 40 epochs)
    weights = cache_path(Path(env["DFBENCH_CACHE"]), "example_meso4", "mini", 32, 0)
    trained = dfbench(env, "train", "example_meso4", "--image-size", 32, "--epochs", 3, "--out", weights)
    assert trained.returncode == 0, trained.stderr
    grid = tmp_path / "grid.toml"
    grid.write_text(GRID)
    ran = dfbench(env, "run", "--grid", grid, "--detector", "example_meso4", "--out", tmp_path / "res")
    assert ran.returncode == 0, ran.stderr
    assert "3 cells: 3 run" in ran.stdout and "example_meso4" in ran.stdout

    board = tmp_path / "leaderboards"
    submitted = dfbench(env, "submit", "--out", tmp_path / "res", "--leaderboards", board, "--allow-flags")
    assert submitted.returncode == 0, submitted.stderr
    (entry_file,) = (board / "mini").glob("example_meso4-*.json")
    entry = json.loads(entry_file.read_text())
    assert entry["detector"] == "example_meso4" and entry["dataset"]["n_samples"] == 48
    built = dfbench(env, "leaderboard", "build", "--leaderboards", board)
    assert built.returncode == 0, built.stderr
    assert "example_meso4" in (board / "site" / "leaderboard.md").read_text()
    assert "example_meso4" in (board / "site" / "index.html").read_text()
