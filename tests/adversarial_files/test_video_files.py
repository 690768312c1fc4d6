"""Clips end to end: a video grid through an H.264 channel, its examples exported as MP4 and
re-scored from the files."""

import json

import torch

from dfbench.adversarial_files.export import export_results
from dfbench.adversarial_files.manifest import read_manifest
from dfbench.adversarial_files.score import grid_doc, score_folder
from dfbench.benchmark.driver import run_grid
from dfbench.benchmark.grid import load_grid, parse_grid
from dfbench.benchmark.store import Store

GRID = """
name = "video-files"
seed = 0
batch_size = 40
[data]
dataset = "mini_video"
image_size = 32
frames = 3
split = "test"
max_samples = 20
[[detectors]]
name = "test_tiny_video"
[[attacks]]
name = "pgd"
backend = "native"
steps = 3
eps = ["8/255"]
[[channels]]
h264 = { crf = 28, preset = "ultrafast" }
"""


def test_clips_through_h264_then_exported_as_mp4_score_as_in_memory(tmp_path):
    (tmp_path / "g.toml").write_text(GRID)
    grid, store = load_grid(tmp_path / "g.toml"), Store(tmp_path / "r.sqlite")
    summary = run_grid(grid, store, tmp_path / "cache")
    assert (summary.ran, summary.failed) == (3, 0)  # raw, H.264 naive, H.264 channel-aware
    records = store.records()
    through = records[records.channel != ""]
    assert set(through.channel) == {"8bit -> h264(crf=28, preset=ultrafast)"}
    assert (through.clean_acc.nunique(), (records.n_samples == 20).all()) == (1, True)  # clips, one clean score

    exported = export_results(grid, store, tmp_path / "cache", tmp_path / "files", "mp4", ["naive"])
    assert (exported.files, exported.not_reproduced) == (20, [])  # the naive channel cell: 20 clips
    manifest = read_manifest(tmp_path / "files")
    assert all(f["file"].endswith(".mp4") and f["linf"] <= 8 / 255 + 0.5 / 255 + 1e-6 for f in manifest["files"])

    scored = Store(tmp_path / "scored.sqlite")
    result = score_folder(tmp_path / "files", parse_grid(grid_doc(manifest, "test_tiny_video")), scored,
                          tmp_path / "cache")
    assert (result.cells, result.files, result.skipped) == (1, 20, [])
    # the naive channel cell crafts on the raw clips with the raw cell's seed: its files are the raw
    # cell's examples rounded to 8 bits, and lossless MP4 keeps them so
    raw_key = records[records.channel == ""].key.iloc[0]
    raw = torch.tensor(store.samples().query("key == @raw_key").sort_values("idx").adv_score.to_numpy())
    files = torch.tensor(scored.samples().sort_values("idx").adv_score.to_numpy())
    threshold = records.threshold.iloc[0]
    assert int(((raw >= threshold) != (files >= threshold)).sum()) <= 1  # 8-bit rounding: at most one clip
    assert json.loads(scored.records().attack_params.iloc[0])["view"].endswith("naive pgd native linf 8/255")
