"""Autocast mixed precision: the network in bfloat16 on the CPU, the attack's arithmetic in float32."""

from __future__ import annotations

import pandas as pd
import torch

from dfbench.attacks import create_attack
from dfbench.benchmark.grid import load_grid
from dfbench.benchmark.runner import run_grid
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


def test_a_bfloat16_grid_agrees_with_float32_and_says_so(tiny_grid_file, cache_dir, tmp_path):
    grid = load_grid(tiny_grid_file)
    full, half = Store(tmp_path / "f.sqlite"), Store(tmp_path / "h.sqlite")
    run_grid(grid, full, cache_dir)
    from dataclasses import replace

    run_grid(replace(grid, precision="bfloat16"), half, cache_dir)
    a = full.records().sort_values(["attack", "norm", "eps"]).reset_index(drop=True)
    b = half.records().sort_values(["attack", "norm", "eps"]).reset_index(drop=True)
    assert (a.precision == "float32").all() and (b.precision == "bfloat16").all()
    assert not set(a.key) & set(b.key)  # a different precision is a different cell
    n = a.n_samples.iloc[0]
    pd.testing.assert_series_equal(a.clean_acc, b.clean_acc, atol=2 / n, rtol=0, check_names=False)
    pd.testing.assert_series_equal(a.adv_acc, b.adv_acc, atol=4 / n, rtol=0, check_names=False)
