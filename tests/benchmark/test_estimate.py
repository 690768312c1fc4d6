"""`dfbench run --dry-run`: cells, jobs and an estimate, with nothing run, trained or written."""

from __future__ import annotations

import re
import time
import tomllib

import pytest
from typer.testing import CliRunner

from dfbench.attacks import Cost, create_attack
from dfbench.benchmark.driver import run_grid
from dfbench.benchmark.grid import parse_grid
from dfbench.benchmark.store import Store
from dfbench.benchmark.workload import Progress
from dfbench.cli import app
from tests.conftest import tiny_grid

GRID = tiny_grid("dry", """
[[attacks]]
name = "fgsm"
eps = ["2/255", "4/255"]
[[attacks]]
name = "worst_case"
eps = ["2/255", "8/255"]
attacks = [{ name = "pgd", steps = 3 }, { name = "square", n_queries = 20 }]
[[defenses]]
chain = [{ name = "jpeg", quality = 75 }]
""")


def test_attacks_declare_their_passes():
    assert create_attack("fgsm", eps=0.01).cost() == Cost(1)
    assert create_attack("pgd", eps=0.01, steps=7).cost() == Cost(7)
    assert create_attack("apgd", eps=0.01, steps=5, restarts=2).cost() == Cost(12)  # + the start point
    assert create_attack("square", eps=0.01, n_queries=50).cost() == Cost(0, 50)
    assert create_attack("cw", eps=0.5, steps=10, binary_search_steps=3).cost() == Cost(30)
    assert create_attack("transfer", eps=0.01, surrogate="test_tiny_cnn", steps=4).cost() == Cost(4)
    both = create_attack("worst_case", eps=0.01, attacks=[{"name": "pgd", "steps": 3}, {"name": "square",
                                                                                         "n_queries": 20}])
    assert both.cost() == Cost(3, 20)  # every member on every sample: the cascade's upper bound
    assert both.sweep_cost(4) == Cost(12, 80)  # ... at each budget in turn
    assert create_attack("cw", eps=0.5, steps=10, binary_search_steps=3).sweep_cost(4) == Cost(30)  # one run


def test_a_dry_run_lists_cells_and_jobs_and_runs_nothing(tmp_path, cache_dir):
    grid = tmp_path / "dry.toml"
    grid.write_text(GRID)
    out, empty = tmp_path / "res", tmp_path / "empty-cache"
    cli = CliRunner()
    cached = cli.invoke(app, ["run", "--grid", str(grid), "--dry-run", "--out", str(out), "--cache", str(cache_dir)])
    assert cached.exit_code == 0, cached.output
    lines = cached.output.strip().splitlines()
    assert lines[0] == "test_tiny_cnn: checkpoint cached"
    assert len([line for line in lines if "cells" in line and "jobs" in line and "about" in line]) == 3 + 1
    # views: undefended, JPEG naive, JPEG adaptive; 4 cells each (fgsm x2, worst_case x2 as one sweep job)
    assert lines[-1].startswith("dry: 12 cells in 9 jobs, about ")
    fresh = cli.invoke(app, ["run", "--grid", str(grid), "--dry-run", "--out", str(out), "--cache", str(empty)])
    assert fresh.exit_code == 0 and fresh.output.startswith("test_tiny_cnn: training about "), fresh.output
    assert not out.exists() and not any(empty.rglob("*.safetensors"))  # no store, no checkpoint


TRANSFER = tiny_grid("dry-transfer", """
[[attacks]]
name = "transfer"
surrogate = "test_tiny_cnn"
surrogate_seed = 3
steps = 2
eps = ["8/255"]
""")


def test_a_dry_run_counts_the_training_of_a_transfer_surrogate(tmp_path, cache_dir):
    grid = tmp_path / "dry.toml"
    grid.write_text(TRANSFER)
    fresh = CliRunner().invoke(app, ["run", "--grid", str(grid), "--dry-run", "--out", str(tmp_path / "r"),
                                     "--cache", str(cache_dir)])
    assert fresh.exit_code == 0, fresh.output
    lines = fresh.output.strip().splitlines()
    assert lines[0] == "test_tiny_cnn: checkpoint cached"
    assert lines[1].startswith("test_tiny_cnn (surrogate, seed 3): training about ")
    assert not any(cache_dir.rglob("*seed3*"))  # the dry run trains nothing


def test_a_dry_run_probes_an_image_surrogate_of_a_video_grid_frame_by_frame(tmp_path):
    grid = tmp_path / "video.toml"
    grid.write_text(TRANSFER.replace('dataset = "mini"', 'dataset = "mini_video"\nframes = 2')
                    .replace('name = "test_tiny_cnn"', 'name = "test_tiny_video"', 1))
    dry = CliRunner().invoke(app, ["run", "--grid", str(grid), "--dry-run", "--out", str(tmp_path / "r"),
                                   "--cache", str(tmp_path / "cache")])
    assert dry.exit_code == 0, dry.output
    assert dry.output.splitlines()[1].startswith("test_tiny_cnn (surrogate, seed 3): training about ")


def test_a_dry_run_of_a_broken_grid_fails_as_the_run_would(tmp_path):
    grid = tmp_path / "bad.toml"
    grid.write_text(tiny_grid("bad", '[[attacks]]\nname = "pgd"\nnorm = "linf"\neps = [2.0]\n'))
    cli = CliRunner()
    runs = [cli.invoke(app, ["run", "--grid", str(grid), *extra, "--out", str(tmp_path / "r")])
            for extra in ([], ["--dry-run"])]
    assert [r.exit_code for r in runs] == [2, 2]
    assert runs[0].output.strip().splitlines()[-1] == runs[1].output.strip().splitlines()[-1]
    assert "covers the whole" in runs[1].output


class Recorder(Progress):
    def start(self, cells, work):
        self.total, self.steps = (cells, work), []

    def advance(self, cells, what, work):
        self.steps.append((cells, what, work))


def test_progress_counts_training_and_every_cell_once(tmp_path):
    """The bar's total is the grid's whole work, training included; what the run reports adds up to it."""
    grid = parse_grid(tomllib.loads(GRID))
    store, cache = Store(tmp_path / "r.sqlite"), tmp_path / "cache"
    first = Recorder()
    run_grid(grid, store, cache, first)
    cells, work = first.total
    assert cells == len(grid.cells()) == sum(s[0] for s in first.steps)
    assert sum(s[2] for s in first.steps) == pytest.approx(work)
    trained = first.steps[0]
    assert trained[0] == 0 and trained[1] == "trained test_tiny_cnn" and trained[2] > 0.3 * work  # 20 epochs
    again = Recorder()
    run_grid(grid, store, cache, again)  # cached and stored: no training, every cell already done
    assert again.total == (cells, pytest.approx(work - trained[2]))
    assert again.steps == [(cells, "already done or untrainable", pytest.approx(work - trained[2]))]
    store.close()


def test_progress_counts_a_surrogates_training(tmp_path):
    grid = parse_grid(tomllib.loads(TRANSFER))
    store, cache = Store(tmp_path / "r.sqlite"), tmp_path / "cache"
    first = Recorder()
    run_grid(grid, store, cache, first)
    surrogate = [s for s in first.steps if s[1] == "trained surrogates"]
    assert len(surrogate) == 1 and surrogate[0][2] > 0.3 * first.total[1]  # 20 epochs vs one 2-step cell
    assert sum(s[2] for s in first.steps) == pytest.approx(first.total[1])
    again = Recorder()
    run_grid(grid, store, cache, again)  # the surrogate is cached now: nothing of it counted
    assert [s[1] for s in again.steps] == ["already done or untrainable"]
    store.close()


def test_the_bar_keeps_redrawing_while_a_job_runs(monkeypatch, capsys):
    """Between two finished jobs (minutes apart on the full grid) the elapsed time still moves."""

    from dfbench.benchmark import workload

    monkeypatch.setattr(workload, "HEARTBEAT_S", 0.05)
    with workload.progress_bar() as bar:
        bar.start(2, 10.0)
        bar.advance(1, "first job", 5.0)
        drawn = capsys.readouterr().err.count("cells 1/2")
        time.sleep(0.5)  # a long job: no advance
        redrawn = capsys.readouterr().err.count("cells 1/2")
    assert redrawn >= 3, (drawn, redrawn)


def test_a_resumed_runs_eta_counts_only_the_work_it_does(capsys):
    """Stored cells are credited, not timed: the ETA is unknown until a job ends, then it is the
    remaining work at the measured pace (crediting them as done in no time read 00:00)."""

    from dfbench.benchmark import workload

    def remaining() -> str:
        return re.findall(r"<([0-9:?]+)", capsys.readouterr().err)[-1]

    with workload.progress_bar() as bar:
        bar.start(4, 100.0)
        bar.skip(2, "already done", 60.0)
        assert remaining() == "?"
        time.sleep(1.0)
        bar.advance(1, "a job", 4.0)  # 4 units in about a second: 36 left take about 9 s
        minutes, seconds = remaining().split(":")
    assert 5 <= 60 * int(minutes) + int(seconds) <= 40  # a loaded machine sleeps longer: a slower pace
