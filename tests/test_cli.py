"""The CLI end to end, and its answers to bad input: one line, non-zero exit, no traceback."""

import pytest
from typer.testing import CliRunner

from dfbench.cli import app

runner = CliRunner()


def invoke(*args, env=None):
    return runner.invoke(app, list(args), env=env)


def test_list():
    result = invoke("list")
    assert result.exit_code == 0
    assert "custom_cnn" in result.stdout and "pgd" in result.stdout and "mini" in result.stdout


def test_run_prints_and_writes_the_leaderboard(tiny_grid_path, cache_dir, tmp_path):
    out = tmp_path / "res"
    result = invoke("run", "--grid", str(tiny_grid_path), "--out", str(out), "--cache", str(cache_dir))
    assert result.exit_code == 0, result.output
    assert "| test_tiny_cnn" in result.stdout and "linf 2/255" in result.stdout and "l2 0.25" in result.stdout
    assert "6 cells: 6 run, 0 already done, 0 failed" in result.stdout
    assert (out / "leaderboard.csv").exists() and (out / "leaderboard.md").exists()
    again = invoke("table", "--out", str(out))
    assert again.exit_code == 0 and "test_tiny_cnn" in again.stdout


def test_train_writes_weights_and_card(tmp_path):
    out = tmp_path / "w.safetensors"
    result = invoke("train", "test_tiny_cnn", "--image-size", "32", "--epochs", "1", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert out.exists() and out.with_suffix(".json").exists()


@pytest.fixture
def tiny_grid_path(tmp_path):
    from tests.benchmark.conftest import TINY_GRID

    p = tmp_path / "tiny.toml"
    p.write_text(TINY_GRID)
    return p


def _bad(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize("make_args,message", [
    (lambda t: ["run", "--detector", "nope"], "unknown detector 'nope'"),
    (lambda t: ["run", "--grid", _bad(t, "g.toml", "[[[")], "not valid TOML"),
    (lambda t: ["run", "--grid", "no_such_grid"], "neither a shipped grid"),
    (lambda t: ["run", "--grid", _bad(t, "g.toml", '[data]\ndataset = "mini"\n[[detectors]]\nname = '
                '"test_tiny_cnn"\nweights = "missing.safetensors"\n[[attacks]]\nname = "pgd"\neps = [0.1]\n')],
     "missing.safetensors does not exist"),  # the path resolved against the grid file
    (lambda t: ["run", "--out", _bad(t, "afile", "x") + "/sub"], "cannot open results store"),
    (lambda t: ["train", "nope"], "unknown detector 'nope'"),
    (lambda t: ["train", "test_tiny_cnn", "--dataset", "imagenet"], "unknown dataset 'imagenet'"),
    (lambda t: ["table", "--out", str(t / "empty")], "no results store"),
])
def test_bad_input_gets_one_clear_line(tmp_path, make_args, message):
    result = invoke(*make_args(tmp_path))
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dfbench: error:") and message in lines[0], result.output
    assert "Traceback" not in result.output
