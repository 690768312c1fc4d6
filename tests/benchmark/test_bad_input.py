"""A corpus of broken inputs through the CLI: one clear line each, no traceback, the run goes on
where it can, and the summary counts what failed."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from dfbench.cli import app
from dfbench.detectors import detectors
from dfbench.detectors.tiny import TinyCNN

runner = CliRunner()


class WrongShape(TinyCNN):
    def classify(self, z):
        return torch.cat([super().classify(z), z.mean((1, 2, 3))[:, None]], dim=1)  # (N, 3)


class NaNLogits(TinyCNN):
    def classify(self, z):
        return super().classify(z) * float("nan")


@pytest.fixture
def broken_detectors(monkeypatch):
    """Registered for one test only (the contract tests run every registered detector)."""
    monkeypatch.setattr(detectors, "_factories", dict(detectors._factories))
    detectors.add("test_wrong_shape", lambda input_size=(32, 32): WrongShape(input_size))
    detectors.add("test_nan_logits", lambda input_size=(32, 32): NaNLogits(input_size))


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


@pytest.mark.parametrize("broken", ["test_wrong_shape", "test_nan_logits"])
def test_a_broken_detector_fails_its_cells_and_the_grid_goes_on(broken, broken_detectors, tiny_grid_file, cache_dir,
                                                               tmp_path):
    result = invoke("run", "--grid", tiny_grid_file, "--detector", broken, "--detector", "test_tiny_cnn",
                    "--out", tmp_path, "--cache", cache_dir)
    assert result.exit_code == 1, result.output
    assert "12 cells: 6 run, 0 already done, 6 failed" in result.output
    assert "| test_tiny_cnn" in result.output  # the healthy detector's table is still printed
    from dfbench.benchmark.store import Store

    failed = Store(tmp_path / "results.sqlite").records(status="failed")
    assert (failed.detector == broken).all() and len(failed) == 6
    assert failed.error.str.startswith("training failed:").all()


@pytest.mark.parametrize("args,message", [
    (["run", "--workers", "0"], "--workers must be >= 1"),
    (["run", "--executor", "spark"], "--executor must be local or ray"),
    (["run", "--address", "ray://x:10001"], "--address is for --executor ray"),
    (["run", "--device", "tpu"], "--device must be auto, cpu, cuda or cuda:N"),
    (["run", "--max-samples", "0"], "--max-samples must be >= 1"),
    (["check", "--baseline", "nowhere.json"], "no baseline at nowhere.json"),
    (["submit", "--out", "nowhere"], "no results store"),
    (["leaderboard", "build", "--leaderboards", "nowhere"], "is not a folder"),
])
def test_bad_options_get_one_clear_line(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke(*args)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dfbench: error:") and message in lines[0], result.output


@pytest.mark.parametrize("grid,message", [
    ('[data]\ndataset = "mini"\n[[detectors]]\nname = "test_tiny_cnn"\n[[attacks]]\nname = "pgd"\neps = ["8/0"]\n',
     "eps"),
    ('[data]\ndataset = "mini"\n[[detectors]]\nname = "test_tiny_cnn"\n[[attacks]]\nname = "nope"\neps = [0.1]\n',
     "unknown attack 'nope'"),
    ('[data]\ndataset = "mini"\n[[detectors]]\nname = "../../etc/passwd"\n[[attacks]]\nname = "pgd"\neps = [0.1]\n',
     "unknown detector"),
    ("\x00\x01binary", "not valid TOML"),
    ("", "missing 'data'"),
])
def test_malformed_grid_files_get_one_clear_line(grid, message, tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text(grid)
    result = invoke("run", "--grid", path, "--out", tmp_path / "out")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output


def test_a_grid_of_attacks_only_takes_its_detector_from_the_command_line(tmp_path, monkeypatch):
    """A grid without [[detectors]] is complete once --model (or --detector, --weights-dir) names one;
    without one it is one line, not a run of nothing."""
    from typer.testing import CliRunner

    from dfbench.cli import app

    monkeypatch.chdir(tmp_path)
    (tmp_path / "g.toml").write_text('name = "g"\nseed = 0\nbatch_size = 48\n[data]\ndataset = "mini"\n'
                                     'image_size = 32\nmax_samples = 48\n[[attacks]]\nname = "fgsm"\neps = ["4/255"]\n')
    cli, env = CliRunner(), {"DFBENCH_CACHE": str(tmp_path / "cache")}
    bare = cli.invoke(app, ["run", "--grid", "g.toml"], env=env)
    assert bare.exit_code == 2 and "names no detector: give one with --detector" in bare.output.splitlines()[-1]
    ran = cli.invoke(app, ["run", "--grid", "g.toml", "--detector", "test_tiny_cnn", "--out", "res"], env=env)
    assert ran.exit_code == 0 and "1 cells: 1 run" in ran.output, ran.output
