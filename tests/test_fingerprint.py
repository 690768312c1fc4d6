"""Checkpoints tied to the code that made them: the fingerprint follows a detector's source and
arguments, and a cached checkpoint of another fingerprint is trained again with a warning."""

from __future__ import annotations

import importlib.util
import json
import logging
import sys

import pytest

from dfbench.detectors import create_detector
from dfbench.detectors.fingerprint import code_fingerprint
from dfbench.errors import CheckpointError
from dfbench.train import trained
from dfbench.train.checkpoint import load_weights, read_card, save_checkpoint

SOURCE = '''
import torch
from torch import nn
from dfbench.detectors.base import Detector


class Mine(Detector):
    def __init__(self, input_size=(32, 32), width=4):
        super().__init__(input_size)
        self.conv = nn.Conv2d(3, width, 3)
        self.head = nn.Linear(width, 2)

    def classify(self, z):
        z = (z - MEAN) / 0.5
        return self.head(self.conv(z).mean(dim=(2, 3)))
'''


def _load(tmp_path, mean: str):
    path = tmp_path / "fp_detector.py"
    path.write_text(SOURCE.replace("MEAN", mean))
    spec = importlib.util.spec_from_file_location("fp_detector", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["fp_detector"] = module
    spec.loader.exec_module(module)
    return module


def test_the_fingerprint_follows_the_source_and_the_arguments(tmp_path):
    module = _load(tmp_path, "0.5")
    first = code_fingerprint(module.Mine(), {"width": 4})
    assert code_fingerprint(module.Mine(), {"width": 4}) == first  # stable
    assert code_fingerprint(module.Mine(width=8), {"width": 8}) != first  # other arguments
    edited = _load(tmp_path, "0.45")  # the normalization edited in the file, same module name
    assert code_fingerprint(edited.Mine(), {"width": 4}) != first
    sys.modules.pop("fp_detector")


def test_a_submodules_own_file_is_part_of_the_fingerprint():
    # hybrid_cnn_lstm's row LSTM lives in _row_lstm.py and _lstm.py: both are hashed
    detector = create_detector("hybrid_cnn_lstm_model0", input_size=(32, 32))
    sources = sys.modules["dfbench.detectors.fingerprint"]._module_sources(detector)
    assert {"dfbench.detectors._row_lstm", "dfbench.detectors._lstm", "dfbench.detectors.hybrid_cnn_lstm",
            "dfbench.detectors.base"} <= set(sources)
    assert not any(name.startswith("torch") for name in sources)


def test_a_checkpoint_of_other_code_is_trained_again_with_one_warning(tmp_path, fake_training, caplog):
    trains = fake_training
    first = trained.trained_detector("test_tiny_cnn", "mini", 32, tmp_path)
    trained.trained_detector("test_tiny_cnn", "mini", 32, tmp_path)
    assert len(trains) == 1  # same code: reused
    card = json.loads(first.weights_path.with_suffix(".json").read_text())
    assert card["code_fingerprint"] == read_card(first.weights_path).code_fingerprint != ""
    card["code_fingerprint"] = "0" * 64  # as if made by an older version of the detector's file
    first.weights_path.with_suffix(".json").write_text(json.dumps(card))
    with caplog.at_level(logging.WARNING):
        trained.trained_detector("test_tiny_cnn", "mini", 32, tmp_path)
    assert len(trains) == 2
    warned = [r.getMessage() for r in caplog.records if "training again" in r.getMessage()]
    assert len(warned) == 1 and "by other code or arguments" in warned[0]
    del card["code_fingerprint"]  # a card from before fingerprints
    first.weights_path.with_suffix(".json").write_text(json.dumps(card))
    trained.trained_detector("test_tiny_cnn", "mini", 32, tmp_path)
    assert len(trains) == 3


def test_a_shape_mismatch_says_how_to_retrain(tmp_path):
    path = tmp_path / "w.safetensors"
    save_checkpoint(create_detector("test_tiny_cnn", width=4), path, {
        "detector": "test_tiny_cnn", "dataset": "mini", "dataset_fingerprint": "f", "input_size": (32, 32),
        "seed": 0, "epochs_run": 0, "best_epoch": 0, "threshold": 0.5, "val": {}})
    with pytest.raises(CheckpointError, match="size mismatch.*train it again"):
        load_weights(create_detector("test_tiny_cnn", width=8), path)


def test_cache_key_follows_the_detectors_arguments_and_fails_cleanly(tmp_path):
    from typer.testing import CliRunner

    from dfbench.cli import app

    runner = CliRunner()
    grid = tmp_path / "g.toml"
    text = ('name = "g"\nseed = 0\n[data]\ndataset = "mini"\nimage_size = 32\nsplit = "test"\n'
            '[[detectors]]\nname = "test_tiny_cnn"\n{params}[[attacks]]\nname = "fgsm"\neps = ["2/255"]\n')
    keys = []
    for params in ("", "width = 4\n"):
        grid.write_text(text.format(params=params))
        result = runner.invoke(app, ["cache-key", "--grid", str(grid)])
        assert result.exit_code == 0, result.output
        keys.append(result.output.strip())
    assert len(keys[0]) == 64 and keys[0] != keys[1]
    bad = runner.invoke(app, ["cache-key", "--grid", str(tmp_path / "missing.toml")])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
