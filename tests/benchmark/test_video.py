"""Video grids: clips attacked jointly against the video-level score, frame-level numbers kept."""

from __future__ import annotations

import math

import pytest
import torch

from dfbench.benchmark.grid import load_grid
from dfbench.benchmark.driver import run_grid
from dfbench.benchmark.store import Store
from dfbench.data import create_dataset
from dfbench.train import trained_detector

GRID = """
name = "video-tiny"
seed = 0
batch_size = 40
[data]
dataset = "mini_video"
image_size = 32
frames = 3
split = "test"
max_samples = 40
[[detectors]]
name = "test_tiny_video"
[[detectors]]
name = "test_tiny_cnn"
[[attacks]]
name = "fgsm"
eps = [0, "8/255"]
[[attacks]]
name = "pgd"
steps = 5
eps = ["8/255"]
"""


@pytest.fixture(scope="module")
def video_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("video")
    (tmp / "g.toml").write_text(GRID)
    grid = load_grid(tmp / "g.toml")
    summary = run_grid(grid, Store(tmp / "r.sqlite"), tmp / "cache")
    return grid, Store(tmp / "r.sqlite").records(), tmp / "cache", summary


def test_every_cell_runs_at_video_level(video_run):
    _, records, _, summary = video_run
    assert (summary.ran, summary.failed) == (6, 0)
    assert (records.n_samples == 40).all()  # clips, not frames


def test_frame_level_numbers_are_each_frame_judged_alone(video_run):
    grid, records, cache, _ = video_run
    row = records[(records.detector == "test_tiny_cnn") & (records.eps == 0)].iloc[0]
    data = create_dataset("mini_video", image_size=32, frames=3)
    split = data["test"].head(40)
    trained = trained_detector("test_tiny_cnn", "mini_video", 32, cache, data_params=grid.data_params,
                               modality="video")
    inner = trained.detector.inner  # the image detector inside PerFrame
    with torch.no_grad():
        frame_scores = inner.score(split.images.flatten(0, 1))
    expected = ((frame_scores >= trained.threshold).long() == split.labels.repeat_interleave(3)).float().mean()
    assert row.frame_clean_acc == pytest.approx(float(expected))
    assert row.frame_adv_acc == row.frame_clean_acc and row.adv_acc == row.clean_acc  # eps 0 changes nothing


def test_attacks_lower_both_levels(video_run):
    _, records, _, _ = video_run
    for _, row in records[records.eps > 0].iterrows():
        assert row.adv_acc <= row.clean_acc and 0 <= row.frame_adv_acc <= 1
        assert row.linf_max <= 8 / 255 + 1e-6


def test_image_cells_have_no_frame_numbers(tiny_grid_file, cache_dir, tmp_path):
    run_grid(load_grid(tiny_grid_file), Store(tmp_path / "r.sqlite"), cache_dir)
    records = Store(tmp_path / "r.sqlite").records()
    assert records.frame_clean_acc.map(lambda v: v is None or math.isnan(v)).all()
