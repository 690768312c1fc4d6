"""Hostile grid files: each is refused at load, in one line naming the file and key, before any
compute and before anything is written."""

from __future__ import annotations

import os
import re

import pytest

from dfbench.errors import ConfigError

GRID = """name = "g"
seed = 0
batch_size = 8
[data]
dataset = "mini"
image_size = 32
max_samples = 8
[[detectors]]
name = "test_tiny_cnn"
"""
PGD = '[[attacks]]\nname = "pgd"\nsteps = 2\neps = ["2/255"]\n'


def attack(line: str, name: str = "pgd", eps: str = '["2/255"]') -> str:
    return GRID + f'[[attacks]]\nname = "{name}"\neps = {eps}\n{line}\n'


def detector(lines: str) -> str:
    return GRID.replace('name = "test_tiny_cnn"\n', f'name = "test_tiny_cnn"\n{lines}\n') + PGD


JPEG = '{ name = "jpeg" }'


def defense(layer: str, extra: str = "") -> str:
    return GRID + PGD + f"[[defenses]]\nchain = [{layer}]\n{extra}\n"


def data(old: str, new: str) -> str:
    return GRID.replace(old, new) + PGD


CASES = {
    # syntax and shape
    "not_toml": ("name = [", "is not valid TOML"),
    "not_utf8": (b"name = \"\xff\xfe\"\n", "is not valid TOML"),
    "empty": ("", "missing 'data'"),
    "top_level_array": ("x = [1, 2]\n" + GRID + PGD, "unknown key(s) x"),
    "deep_arrays": (GRID + PGD + "deep = " + "[" * 5000 + "]" * 5000 + "\n", "nested"),
    "deep_tables": (GRID + PGD + "deep = " + "{a = " * 200 + "1" + "}" * 200 + "\n", "nested more than"),
    "data_not_table": ('data = 5\n[[detectors]]\nname = "test_tiny_cnn"\n' + PGD, "'data' has the wrong type"),
    "detectors_not_list": ('detectors = "x"\n' + GRID.replace('[[detectors]]\nname = "test_tiny_cnn"\n', "") + PGD,
                           "'detectors' has the wrong type"),
    "no_attacks": ("attacks = []\n" + GRID, "no attacks"),
    "attack_not_table": ("attacks = [5]\n" + GRID, "expected a table"),
    "unknown_top_key": ("colour = 1\n" + GRID + PGD, "unknown key(s) colour"),
    # numbers of the grid itself
    "seed_negative": (GRID.replace("seed = 0", "seed = -1") + PGD, "seed must be in 0..2147483647"),
    "seed_float": (GRID.replace("seed = 0", "seed = 2.5") + PGD, "seed must be an integer, got 2.5"),
    "seed_bool": (GRID.replace("seed = 0", "seed = true") + PGD, "seed must be an integer, got True"),
    "seed_inf": (GRID.replace("seed = 0", "seed = inf") + PGD, "must be a finite number"),
    "seed_nan": (GRID.replace("seed = 0", "seed = nan") + PGD, "must be a finite number"),
    "seed_5000_digits": (GRID.replace("seed = 0", "seed = 1" + "0" * 5000) + PGD, "is not valid TOML"),
    "seed_huge": (GRID.replace("seed = 0", "seed = 9223372036854775807") + PGD, "seed must be within +-2**53"),
    "batch_zero": (GRID.replace("batch_size = 8", "batch_size = 0") + PGD, "batch_size must be in 1..65536"),
    "batch_huge": (GRID.replace("batch_size = 8", "batch_size = 100000000") + PGD, "batch_size must be in 1..65536"),
    "batch_string": (GRID.replace("batch_size = 8", 'batch_size = "8"') + PGD, "batch_size must be an integer"),
    "image_size_small": (data("image_size = 32", "image_size = 8"), "image_size must be in 16..1024"),
    "image_size_float": (data("image_size = 32", "image_size = 32.0"), "image_size must be an integer, got 32.0"),
    "image_size_bool": (data("image_size = 32", "image_size = true"), "image_size must be an integer, got True"),
    "max_samples_bool": (data("max_samples = 8", "max_samples = true"), "max_samples must be an integer, got True"),
    "max_samples_zero": (data("max_samples = 8", "max_samples = 0"), "max_samples must be >= 1"),
    "max_samples_float": (data("max_samples = 8", "max_samples = 2.5"), "max_samples must be an integer, got 2.5"),
    "max_samples_negative": (data("max_samples = 8", "max_samples = -3"), "max_samples must be >= 1"),
    "max_samples_nan": (data("max_samples = 8", "max_samples = nan"), "must be a finite number"),
    "split_unknown": (data("max_samples = 8", 'max_samples = 8\nsplit = "holdout"'), "split must be one of"),
    "dataset_unknown": (data('dataset = "mini"', 'dataset = "imagenet"'), "unknown dataset 'imagenet'"),
    "dataset_number": (data('dataset = "mini"', "dataset = 5"), "'dataset' has the wrong type"),
    "data_unknown_key": (data("max_samples = 8", "max_samples = 8\nframes = 4"), "unknown key(s) frames"),
    "precision_half": ("precision = \"float16\"\n" + GRID + PGD, "float16 flushes small input gradients"),
    "protocol_number": ("protocol = 5\n" + GRID + PGD, "protocol must be a string"),
    # eps
    "eps_overflow_string": (attack("", eps='["1e400"]'), "eps '1e400' is not a finite number >= 0"),
    "eps_inf": (attack("", eps="[inf]"), "attacks[0].eps[0] must be a finite number, got inf"),
    "eps_nan": (attack("", eps="[nan]"), "attacks[0].eps[0] must be a finite number, got nan"),
    "eps_negative": (attack("", eps="[-0.1]"), "is not a finite number >= 0"),
    "eps_negative_fraction": (attack("", eps='["-1/255"]'), "is not a finite number >= 0"),
    "eps_division_by_zero": (attack("", eps='["1/0"]'), "is not a number or a fraction"),
    "eps_word": (attack("", eps='["big"]'), "is not a number or a fraction"),
    "eps_bool": (attack("", eps="[true]"), "is not a finite number >= 0"),
    "eps_table": (attack("", eps="[{a = 1}]"), "is not a finite number >= 0"),
    "eps_empty": (attack("", eps="[]"), "empty eps list"),
    "eps_not_list": (attack("", eps='"8/255"'), "'eps' has the wrong type"),
    "eps_linf_above_one": (attack("", eps="[8]"), "covers the whole"),
    "eps_l2_beyond_image": (attack('norm = "l2"', eps="[1000.0]"), "exceeds the largest distance"),
    "eps_huge_int": (attack("", eps="[9223372036854775807]"), "eps[0] must be within +-2**53"),
    # attack parameters
    "steps_fraction": (attack("steps = 2.5"), "steps must be an integer, got 2.5"),
    "steps_bool": (attack("steps = true"), "steps must be an integer, got True"),
    "steps_zero": (attack("steps = 0"), "steps must be >= 1"),
    "steps_string": (attack('steps = "10"'), "steps must be an integer, got '10'"),
    "steps_nan": (attack("steps = nan"), "must be a finite number"),
    "alpha_nan": (attack("alpha = nan"), "must be a finite number"),
    "alpha_inf": (attack("alpha = -inf"), "must be a finite number"),
    "alpha_bool": (attack("alpha = false"), "alpha must be a number, got False"),
    "random_start_int": (attack("random_start = 1"), "random_start must be true or false, got 1"),
    "restarts_fraction": (attack('restarts = 1.5\nbackend = "native"'), "restarts must be an integer"),
    "unknown_attack_param": (attack("colour = 1"), "unknown parameter(s) colour"),
    "attack_sets_seed": (attack("seed = 3"), "seed is set by dfbench itself"),
    "attack_unknown": (attack("", name="deepfool"), "unknown attack 'deepfool'"),
    "attack_norm_unknown": (attack('norm = "l3"'), "supports norms linf, l2, not 'l3'"),
    "attack_backend_unknown": (attack('backend = "cleverhans"'), "has backends"),
    "square_queries_fraction": (attack("n_queries = 2.5", name="square"), "n_queries must be an integer"),
    "transfer_surrogate_unknown": (attack('surrogate = "nope"', name="transfer"), "unknown detector 'nope'"),
    "worst_case_empty": (attack("attacks = []", name="worst_case"), "non-empty list"),
    # detectors
    "detector_unknown": (GRID.replace('"test_tiny_cnn"', '"gpt"') + PGD, "unknown detector 'gpt'"),
    "detector_name_number": (GRID.replace('name = "test_tiny_cnn"', "name = 7") + PGD, "'name' has the wrong type"),
    "detector_input_size": (detector("input_size = [64, 64]"), "input_size is set by dfbench itself"),
    "detector_unknown_key": (detector("colour = 1"), "unknown parameter(s) colour"),
    "detector_weights_missing": (detector('weights = "nowhere.safetensors"'), "does not exist"),
    "detector_weights_number": (detector("weights = 5"), "does not exist"),
    "detector_weights_folder": (detector('weights = "."'), "does not exist"),
    "detector_training_string": (detector('training = "pgd"'), "training must be a table"),
    "detector_training_unknown": (detector('training = { adv = "deepfool" }'), "training"),
    "detector_training_eps": (detector('training = { adv = "pgd", adv_eps = "huge" }'), "is not a number"),
    "detector_model_and_name": (detector('model = "x.py:f"'), "not both"),
    "detector_model_missing_file": (GRID.replace('name = "test_tiny_cnn"', 'model = "nope.py:make"') + PGD,
                                    "nope.py"),
    "detector_twice": (GRID + '[[detectors]]\nname = "test_tiny_cnn"\n' + PGD, "a detector is listed twice"),
    # defenses
    "defense_chain_empty": (GRID + PGD + "[[defenses]]\nchain = []\n", "chain must be a non-empty list"),
    "defense_unknown": (defense('{ name = "denoise" }'), "unknown defense 'denoise'"),
    "defense_quality_fraction": (defense('{ name = "jpeg", quality = 75.5 }'), "quality must be an integer"),
    "defense_quality_bool": (defense('{ name = "jpeg", quality = true }'), "quality must be an integer, got True"),
    "defense_sigma_nan": (defense('{ name = "gaussian_blur", sigma = nan }'), "must be a finite number"),
    "defense_eot_zero": (defense(JPEG, "eot_samples = 0"), "eot_samples must be in 1..100"),
    "defense_eot_bool": (defense(JPEG, "eot_samples = true"), "eot_samples must be an integer"),
    "defense_for_unknown_detector": (defense(JPEG, 'detectors = ["x"]'), "are not in the grid"),
    "defense_unknown_key": (defense(JPEG, "strength = 2"), "unknown key(s) strength"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_hostile_grid_file_is_refused_at_load(ws, case):
    text, message = CASES[case]
    grid = ws.write("g.toml", text)
    line = ws.refused(["run", "--grid", grid, "--out", ws.out, "--cache", ws.cache], message)
    assert "g.toml" in line or "grid" in line


@pytest.mark.parametrize("make,message", [
    (lambda ws: ws.write("big.toml", GRID + PGD + "# " + "x" * (17 << 20) + "\n"), "more than the"),
    (lambda ws: (ws.root / "dir.toml").mkdir() or ws.root / "dir.toml", "neither a shipped grid"),
    (lambda ws: os.symlink("/dev/zero", ws.root / "zero.toml") or ws.root / "zero.toml", "neither a shipped grid"),
    (lambda ws: os.mkfifo(ws.root / "fifo.toml") or ws.root / "fifo.toml", "neither a shipped grid"),
    (lambda ws: os.symlink(ws.root / "loop.toml", ws.root / "loop.toml") or ws.root / "loop.toml",
     "neither a shipped grid"),
    (lambda ws: ws.root / "missing.toml", "neither a shipped grid"),
], ids=["over_16_MiB", "a_folder", "link_to_dev_zero", "fifo", "link_loop", "missing"])
def test_a_grid_path_that_is_no_grid_file_is_refused_without_reading_it(ws, make, message):
    ws.refused(["run", "--grid", make(ws), "--out", ws.out, "--cache", ws.cache], message)


def test_a_byte_order_mark_is_not_hostile(ws):
    """Some Windows editors start UTF-8 files with a BOM; tomllib alone refuses it, dfbench skips it."""
    from dfbench.benchmark.grid import load_grid

    grid = ws.write("bom.toml", b"\xef\xbb\xbf" + (GRID + PGD).encode())
    assert load_grid(grid).name == "g"


MODEL = '''
import torch
from torch import nn


def build(width: int = 8):
    return nn.Sequential(nn.Conv2d(3, width, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 2))
'''


@pytest.mark.parametrize("line,message", [
    ("width = 16", None), ("width = 2.5", "width must be an integer, got 2.5"),
    ("colour = 1", "unknown parameter(s) colour"),
    ("input_size = [8, 8]", "input_size is set by dfbench itself"),
])
def test_a_model_from_a_file_takes_its_factorys_own_parameters(ws, monkeypatch, line, message):
    from dfbench.benchmark.grid import load_grid
    from dfbench.detectors import detectors, from_file

    monkeypatch.setattr(detectors, "_factories", dict(detectors._factories))  # registered for this test only
    monkeypatch.setattr(from_file, "_LOADED", {})
    ws.write("m.py", MODEL)
    text = GRID.replace('name = "test_tiny_cnn"\n', f'model = "m.py:build"\n{line}\n') + PGD
    grid = ws.write("g.toml", text)
    if message is None:
        assert load_grid(grid).detectors[0].params == {"width": 16}
    else:
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_grid(grid)


def test_a_class_or_an_unhashable_callable_registered_as_a_factory_is_checked_by_its_init():
    from dfbench.validate import check_params

    class Plugin:
        threshold: float

        def __init__(self, threshold: float | None = None, steps: int = 1) -> None: ...

    class Callable_:
        __hash__ = None  # type: ignore[assignment]

        def __call__(self, steps: int = 1) -> None: ...

    check_params(Plugin, {"threshold": None, "steps": 3}, "plugin")
    with pytest.raises(ConfigError, match="steps must be an integer"):
        check_params(Plugin, {"steps": 2.5}, "plugin")
    with pytest.raises(ConfigError, match="steps must be an integer"):
        check_params(Callable_(), {"steps": 2.5}, "callable")
