"""Every kind of attack through the runner: backends, transfer matrix, query budget, cascade, flags."""

import json

import pytest
import torch

from dfbench.attacks.transfer import Transfer
from dfbench.benchmark.grid import load_grid
from dfbench.benchmark.driver import run_grid
from dfbench.benchmark.store import Store
from dfbench.leaderboards import entries_from_store, leaderboard, transfer_matrix
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
    # this custom_cnn is confident enough that CE's gradient underflows on > 10% of samples
    assert (r.detector_flags.loc["custom_cnn"] == "saturated_softmax").all(), set(r.detector_flags.loc["custom_cnn"])
    assert (r.detector_flags.loc["test_tiny_cnn"] == "").all()


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
    for det, g in r.groupby("detector"):
        wc = g[g.attack == "worst_case"].sort_values("eps").adv_acc.tolist()
        assert wc[1] <= wc[0]
        at4 = g[g.eps == 4 / 255].set_index("attack").adv_acc
        assert at4["worst_case"] <= min(at4["fgsm"], at4["pgd"]) + 2 / 48


def test_leaderboard_shows_the_flags(store):
    table = leaderboard(entries_from_store(store)).set_index("detector")
    assert "saturated_softmax" in table.loc["custom_cnn", "flags"]
    flags = store.records().set_index("detector").check_flags
    tiny = {f for v in flags.loc["test_tiny_cnn"] for f in v.split(",") if f}
    assert table.loc["test_tiny_cnn", "flags"] == ",".join(sorted(tiny))


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
