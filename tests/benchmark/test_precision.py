"""Autocast mixed precision: the network in bfloat16 on the CPU, the attack's arithmetic in float32."""

from __future__ import annotations

import pandas as pd
import torch

from dfbench.attacks import create_attack
from dfbench.benchmark.grid import load_grid
from dfbench.benchmark.driver import run_grid
from dfbench.benchmark.store import Store
from dfbench.detectors.autocast import Autocast


def test_autocast_logits_and_input_gradients_are_float32(trained_cnn, mini32):
    det = trained_cnn.detector
    x = mini32["test"].images[:16]
    amp = Autocast(det, "bfloat16")
    x_grad = x.clone().requires_grad_(True)
    logits = amp(x_grad)
    logits[:, 1].sum().backward()
    assert logits.dtype == torch.float32 and x_grad.grad.dtype == torch.float32
    torch.testing.assert_close(logits, det(x), atol=0.15, rtol=0.05)  # bfloat16 has 8 bits of mantissa
    assert amp.threshold == det.threshold


def test_attacks_on_an_autocast_detector_keep_a_float32_budget(trained_cnn, mini32):
    amp = Autocast(trained_cnn.detector, "bfloat16")
    x, y = mini32["test"].images[:16], mini32["test"].labels[:16]
    x_adv = create_attack("pgd", eps=4 / 255, steps=5, seed=0).perturb(amp, x, y)
    assert x_adv.dtype == torch.float32
    assert (x_adv - x).abs().max() <= 4 / 255 + 1e-7 and x_adv.min() >= 0 and x_adv.max() <= 1


def test_a_bfloat16_grid_agrees_with_float32_and_is_its_own_entry(tiny_grid_file, cache_dir, tmp_path):
    from dataclasses import replace

    from dfbench.leaderboards import entries_from_store
    from dfbench.leaderboards.entry import validate_entry

    grid = load_grid(tiny_grid_file)
    store = Store(tmp_path / "r.sqlite")  # both precisions in one results directory
    run_grid(grid, store, cache_dir)
    run_grid(replace(grid, precision="bfloat16"), store, cache_dir)
    records = store.records().sort_values(["attack", "norm", "eps"])
    a = records[records.precision == "float32"].reset_index(drop=True)
    b = records[records.precision == "bfloat16"].reset_index(drop=True)
    assert len(a) == len(b) == 6 and not set(a.key) & set(b.key)  # a different precision is a different cell
    n = a.n_samples.iloc[0]
    pd.testing.assert_series_equal(a.clean_acc, b.clean_acc, atol=2 / n, rtol=0, check_names=False)
    pd.testing.assert_series_equal(a.adv_acc, b.adv_acc, atol=4 / n, rtol=0, check_names=False)
    entries = entries_from_store(store)
    assert sorted(e.get("precision", "float32") for e in entries) == ["bfloat16", "float32"]
    names = {e.get("precision", "float32"): e["name"] for e in entries}
    assert names["bfloat16"] == names["float32"] + "-bfloat16"
    for entry in entries:
        validate_entry(entry)


def test_autocast_keeps_the_inner_detector_in_eval_mode(trained_cnn, mini32):
    det = trained_cnn.detector.eval()
    amp = Autocast(det, "bfloat16")
    assert not amp.training
    create_attack("fgsm", eps=2 / 255).perturb(amp, mini32["test"].images[:4], mini32["test"].labels[:4])
    assert not det.training and not amp.training


def test_float16_is_refused_with_the_reason(tiny_grid_file):
    import pytest

    from dfbench.errors import ConfigError

    text = tiny_grid_file.read_text()
    tiny_grid_file.write_text('precision = "float16"\n' + text)
    with pytest.raises(ConfigError, match="float16 flushes small input gradients to zero"):
        load_grid(tiny_grid_file)
