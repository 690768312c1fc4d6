"""Channels in a grid: scored through the channel, naive vs channel-aware, in the protocol."""

import pytest

from dfbench.benchmark.driver import run_grid
from dfbench.benchmark.grid import load_grid
from dfbench.benchmark.store import Store
from dfbench.errors import ConfigError
from dfbench.leaderboards import entries_from_store

RAW = """
name = "channelled"
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
backend = "native"
steps = 10
eps = ["8/255"]
"""
CHANNEL = '[[channels]]\njpeg = { quality = 75 }\n'


@pytest.fixture(scope="module")
def store(cache_dir, trained_cnn, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("channelled")
    (tmp / "grid.toml").write_text(RAW + CHANNEL)
    s = Store(tmp / "results.sqlite")
    summary = run_grid(load_grid(tmp / "grid.toml"), s, cache_dir)
    assert (summary.ran, summary.failed) == (3, 0)  # raw + JPEG-75 naive and channel-aware
    return s


def test_channel_aware_pgd_beats_naive_pgd_through_jpeg(store):
    r = store.records().set_index(["channel", "adaptive"])
    raw, naive, aware = r.loc[("", 0)], r.loc[("8bit -> jpeg(quality=75)", 0)], r.loc[("8bit -> jpeg(quality=75)", 1)]
    assert naive.clean_acc == aware.clean_acc and naive.clean_acc > 0.6  # clean through the channel too
    assert raw.adv_acc < naive.adv_acc  # JPEG washes out part of a perturbation crafted on the raw input
    assert aware.adv_acc < naive.adv_acc - 0.1  # BPDA through the codec gets it back (measured: see README)
    assert (naive.defenses, aware.defenses) == ("", "")  # the platform's channel is not the detector's defense
    assert "gradient_masking" not in naive.check_flags  # crafted without the channel: not a masking symptom


def test_the_channel_is_in_the_protocol_and_entries(store):
    records = store.records()
    raw = records[records.channel == ""].protocol.iloc[0]
    through = set(records[records.channel != ""].protocol)
    assert len(through) == 1 and raw not in through and next(iter(through)).startswith("channelled-via-8bit-jpeg")
    entries = {e["protocol"]: e for e in entries_from_store(store)}
    channelled = entries[next(iter(through))]
    assert channelled["channel"] == "8bit -> jpeg(quality=75)" and "channel" not in entries[raw]
    assert {r["attack_mode"] for r in channelled["robust"]} == {"naive", "adaptive"}
    assert {r["attack_mode"] for r in entries[raw]["robust"]} == {""}


def test_the_ci_gate_tells_raw_and_channel_entries_apart(store):
    from dfbench.leaderboards.check import compare

    entries = entries_from_store(store)
    assert len(entries) == 2 and not [f for f in compare(entries, entries) if f.failed]


def test_a_channel_protocol_is_the_channel_as_resolved(tmp_path):
    protocols, keys = [], []
    for layer in ("jpeg = {}", "jpeg = { quality = 75 }", "jpeg = { quality = [75, 75] }", "jpeg = { quality = 70 }"):
        (tmp_path / "grid.toml").write_text(RAW + f"[[channels]]\n{layer}\n")
        grid = load_grid(tmp_path / "grid.toml")
        protocols.append(grid.protocol_of(grid.channels[0]))
        keys.append([c.key(grid, "w", "d") for c in grid.cells()])
    assert protocols[0] == protocols[1] == protocols[2] != protocols[3]
    assert keys[0] == keys[1] == keys[2] != keys[3]  # one channel, one set of cells in a store


def test_adding_a_channel_keeps_the_raw_cells_keys(tmp_path):
    (tmp_path / "raw.toml").write_text(RAW)
    (tmp_path / "both.toml").write_text(RAW + CHANNEL)
    raw, both = load_grid(tmp_path / "raw.toml"), load_grid(tmp_path / "both.toml")
    assert [c.key(raw, "w", "d") for c in raw.cells()] == [c.key(both, "w", "d") for c in both.cells()][:1]
    assert len({c.key(both, "w", "d") for c in both.cells()}) == 3
    assert raw.protocol == both.protocol_of(None)


@pytest.mark.parametrize("entry, message", [
    ("[[channels]]\neot_samples = 4\n", "no channel layers"),
    ("[[channels]]\nwebp = { quality = 75 }\n", "unknown channel 'webp'"),
    ("[[channels]]\njpeg = 75\n", "jpeg must be a table"),
    ("[[channels]]\njpeg = { quality = 101 }\n", "quality must be an integer in"),
    ("[[channels]]\njpeg = { qualty = 75 }\n", "unknown parameter"),
    ("[[channels]]\nh264 = { crf = 23 }\n", "cannot take image input"),
    ("[[channels]]\njpeg = {}\ndetectors = [\"xception\"]\n", "not in the grid"),
    ("channels = 3\n", "channels must be a list"),
    ("[[channels]]\njpeg = {}\n[[channels]]\njpeg = {}\n", "listed twice"),
    ("[[channels]]\njpeg = {}\n[[channels]]\njpeg = { quality = 75 }\n", "listed twice"),  # 75: the default
    ("[[channels]]\n8bit = {}\n", "8bit is every channel's first step already"),
])
def test_bad_channel_entries_fail_at_load(tmp_path, entry, message):
    (tmp_path / "grid.toml").write_text(entry + RAW if entry.startswith("channels =") else RAW + entry)
    with pytest.raises(ConfigError, match=message):
        load_grid(tmp_path / "grid.toml")
