"""Every kind of attack through the runner: backends, transfer matrix, query budget, cascade, flags."""

import json
import math

import pytest
import torch
import torch.nn.functional as F

from dfbench.attacks.transfer import Transfer
from dfbench.benchmark.driver import run_grid
from dfbench.benchmark.grid import load_grid
from dfbench.benchmark.store import Store
from dfbench.data import create_dataset
from dfbench.leaderboards import entries_from_store, leaderboard, transfer_matrix
from dfbench.leaderboards.robust import clean_flags
from dfbench.metrics.intervals import wilson


@pytest.fixture(scope="module")
def store(cache_dir, trained_cnn, tmp_path_factory):
    """The threat-model grid run once; ``store.transfer_calls`` lists the surrogate batches."""
    from .conftest import THREAT_GRID

    tmp = tmp_path_factory.mktemp("threats")
    (tmp / "threats.toml").write_text(THREAT_GRID)
    calls = []
    real = Transfer.run
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Transfer, "run", lambda self, d, x, y: calls.append(len(x)) or real(self, d, x, y))
        s = Store(tmp / "results.sqlite")
        summary = run_grid(load_grid(tmp / "threats.toml"), s, cache_dir)
    assert (summary.ran, summary.failed) == (16, 0)
    s.transfer_calls = calls
    return s


def test_records_carry_kind_backend_quality_and_flags(store):
    r = store.records().set_index(["detector", "attack", "eps"])
    assert set(r.attack_kind) == {"single_step", "iterative", "transfer", "query", "ensemble"}
    assert set(r.backend) == {"art", "foolbox", "torchattacks", "cascade"}
    attacked = r[r.index.get_level_values("eps") > 0]
    assert (attacked.ssim_mean < 1).all() and (attacked.psnr_mean > 20).all()
    unattacked = r[r.index.get_level_values("eps") == 0]
    assert (unattacked.ssim_mean == 1).all() and unattacked.psnr_mean.isna().all()
    assert (unattacked.adv_acc == unattacked.clean_acc).all()
    assert json.loads(r.loc[("custom_cnn", "square", 4 / 255), "attack_params"])["n_queries"] == 50
    assert (r.detector_flags.loc["test_tiny_cnn"] == "").all()


def _zero_ce_gradient_share(trained, x, y):
    """By hand: the share of samples whose input gradient of cross-entropy (on the logits shifted to the
    detector's threshold) is exactly zero: softmax saturated in float32."""
    xg = x.clone().requires_grad_(True)
    logits = trained.detector(xg)
    shift = math.log(trained.threshold / (1 - trained.threshold))
    F.cross_entropy(torch.stack([logits[:, 0], logits[:, 1] - shift], 1), y, reduction="sum").backward()
    return float((xg.grad.flatten(1).abs().sum(1) == 0).float().mean())


def test_saturated_softmax_flag_agrees_with_a_hand_computed_gradient_share(store, trained_cnn):
    # whether this custom_cnn saturates depends on how confident training made it on this machine;
    # the flag must say what its gradients say (> 10% of the probe's samples with a zero CE gradient)
    split = create_dataset("mini", image_size=32)["test"].head(48)
    share = _zero_ce_gradient_share(trained_cnn, split.images, split.labels)
    flags = set(store.records().set_index("detector").detector_flags.loc["custom_cnn"])
    assert len(flags) == 1
    assert ("saturated_softmax" in flags.pop().split(",")) == (share > 0.1), share


def test_transfer_examples_are_crafted_once_and_scored_on_every_target(store):
    assert store.transfer_calls == [48]  # one batch, one eps, two targets
    matrix = transfer_matrix(entries_from_store(store))
    assert list(matrix.columns) == ["dataset", "surrogate", "attack", "eps", "custom_cnn", "custom_cnn lo",
                                    "custom_cnn hi", "test_tiny_cnn", "test_tiny_cnn lo", "test_tiny_cnn hi"]
    k = round(matrix.loc[0, "custom_cnn"] * 48)
    assert (matrix.loc[0, "custom_cnn lo"], matrix.loc[0, "custom_cnn hi"]) == pytest.approx(wilson(k, 48))
    assert matrix.loc[0, "surrogate"] == "test_tiny_cnn" and matrix.loc[0, "attack"] == "pgd (torchattacks) steps=5"
    r = store.records()
    transfer = r[r.attack == "transfer"].set_index("detector").adv_acc
    assert matrix.loc[0, "custom_cnn"] == pytest.approx(transfer["custom_cnn"], abs=1e-6)  # entries keep 6 decimals


def test_worst_case_is_monotone_and_never_above_its_members(store):
    r = store.records()
    for _, g in r.groupby("detector"):
        wc = g[g.attack == "worst_case"].sort_values("eps").adv_acc.tolist()
        assert wc[1] <= wc[0]
        at4 = g[g.eps == 4 / 255].set_index("attack").adv_acc
        assert at4["worst_case"] <= min(at4["fgsm"], at4["pgd"]) + 2 / 48


def test_leaderboard_shows_the_flags(store):
    entries = entries_from_store(store)
    table = leaderboard(entries).set_index("detector")
    records = store.records().set_index("detector")
    for detector in ("custom_cnn", "test_tiny_cnn"):  # every flag of every cell and probe and of the clean AUC, once
        raised = {f for col in ("detector_flags", "check_flags") for v in records.loc[detector, col]
                  for f in v.split(",") if f}
        raised |= set(clean_flags(next(e for e in entries if e["detector"] == detector)["clean"]))
        assert table.loc[detector, "flags"] == ",".join(sorted(raised))
        assert all(f"{flag}: " in table.loc[detector, "flag_details"] for flag in raised)


def test_surrogates_are_trained_once_by_the_driver_before_any_job(tmp_path, monkeypatch):
    from dfbench.benchmark import prepare
    from tests.conftest import tiny_grid

    (tmp_path / "g.toml").write_text(tiny_grid("t", '[[attacks]]\nname = "transfer"\nsurrogate = "test_tiny_cnn"\n'
                                                    'steps = 2\neps = ["4/255"]\n'))
    trained = []
    real = prepare.trained_detector
    monkeypatch.setattr(prepare, "trained_detector", lambda name, *a, **k: trained.append(k.get("seed")) or real(
        name, *a, **k))
    grid = load_grid(tmp_path / "g.toml")
    prepared = prepare.load_for_grid(grid, tmp_path / "cache")
    prepare.train_surrogates(grid, tmp_path / "cache", prepared.data, torch.device("cpu"))
    assert sorted(trained) == [0, 1]  # the target (grid seed 0) and its surrogate (seed 0 + 1), in the driver
    assert (tmp_path / "cache" / "test_tiny_cnn" / "mini32_seed1.safetensors").exists()
