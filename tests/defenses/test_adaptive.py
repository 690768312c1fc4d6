"""Naive vs adaptive attacks on defenses through the runner: the Athalye et al. (2018) result."""

import pytest

from dfbench.benchmark.driver import run_grid
from dfbench.benchmark.grid import load_grid
from dfbench.benchmark.store import Store
from dfbench.errors import ConfigError
from dfbench.leaderboards import entries_from_store, leaderboard

GRID = """
name = "defended"
seed = 0
batch_size = 160
[data]
dataset = "mini"
image_size = 32
split = "test"
[[detectors]]
name = "custom_cnn"
[[attacks]]
name = "pgd"
steps = 10
eps = ["8/255"]
[[defenses]]
chain = [{ name = "jpeg", quality = 75 }]
[[defenses]]
chain = [{ name = "median_filter", size = 3 }]
"""


@pytest.fixture(scope="module")
def store(cache_dir, trained_cnn, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("defended")
    (tmp / "grid.toml").write_text(GRID)
    s = Store(tmp / "results.sqlite")
    summary = run_grid(load_grid(tmp / "grid.toml"), s, cache_dir)
    assert (summary.ran, summary.failed) == (5, 0)  # undefended + 2 defenses x (naive, adaptive)
    return s


def test_jpeg_looks_robust_to_naive_pgd_and_falls_to_bpda(store):
    r = store.records().set_index(["defenses", "adaptive"])
    naive, adaptive = r.loc[("Jpeg(quality=75)", 0)], r.loc[("Jpeg(quality=75)", 1)]
    # well above chance through JPEG (the 15-epoch 32-px detector gives 0.72-0.80 here, by machine)
    assert naive.clean_acc > 0.65 and naive.clean_acc == adaptive.clean_acc
    assert naive.adv_acc > naive.clean_acc - 0.05  # zero gradients: PGD gets nowhere
    assert adaptive.adv_acc < naive.adv_acc - 0.3  # BPDA gets through
    assert "gradient_masking" in naive.check_flags.split(",")
    assert "zero_gradients" in naive.detector_flags.split(",")
    assert "gradient_masking" not in adaptive.check_flags and "zero_gradients" not in adaptive.detector_flags


def test_a_differentiable_defense_is_not_flagged(store):
    r = store.records().set_index(["defenses", "adaptive"])
    naive, adaptive = r.loc[("MedianFilter(size=3)", 0)], r.loc[("MedianFilter(size=3)", 1)]
    assert naive.adv_acc == adaptive.adv_acc  # the same gradient path, the same seed
    assert "gradient_masking" not in naive.check_flags


def test_leaderboard_shows_naive_and_adaptive_rows(store):
    table = leaderboard(entries_from_store(store))
    jpeg = table[table.defenses == "Jpeg(quality=75)"].set_index("attack_mode")
    assert set(jpeg.index) == {"naive", "adaptive"}
    assert "gradient_masking" in jpeg.loc["naive", "flags"]
    assert jpeg.loc["naive", "linf 8/255"] > jpeg.loc["adaptive", "linf 8/255"]
    assert table[table.defenses == ""].attack_mode.tolist() == [""]


@pytest.mark.parametrize("entry,message", [
    ('[[defenses]]\nchain = [{ name = "nope" }]\n', "unknown defense 'nope'"),
    ('[[defenses]]\nchain = [{ name = "jpeg", quality = 101 }]\n', "quality must be"),
    ('[[defenses]]\nchain = [{ name = "gaussian_blur", sigma = -1.0 }]\n', "sigma must be"),
    ('[[defenses]]\nchain = []\n', "non-empty list"),
    ('[[defenses]]\nchain = [{ name = "jpeg" }]\neot_samples = 0\n', "eot_samples"),
    ('[[defenses]]\nchain = [{ name = "jpeg" }]\n[[defenses]]\nchain = [{ name = "jpeg" }]\n', "listed twice"),
    ('[[defenses]]\nchain = [{ name = "jpeg" }]\ncolour = 1\n', "unknown key"),
])
def test_bad_defense_entries_fail_at_load(tmp_path, entry, message):
    path = tmp_path / "g.toml"
    path.write_text(GRID.split("[[defenses]]")[0] + entry)
    with pytest.raises(ConfigError, match=message):
        load_grid(path)
