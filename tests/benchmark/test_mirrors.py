"""A defense whose adaptive attack is its naive one (differentiable and deterministic: a median
filter) is computed once and stored under both attack modes; a BPDA or EOT defense is not."""

from __future__ import annotations

import pandas as pd
import pytest

from dfbench.benchmark.cells import DefenseSpec
from dfbench.benchmark.driver import run_grid
from dfbench.benchmark.grid import load_grid
from dfbench.benchmark.plan import plan
from dfbench.benchmark.prepare import load_for_grid
from dfbench.benchmark.store import Store
from dfbench.detectors import create_detector
from dfbench.metrics import METRIC_NAMES
from tests.conftest import tiny_grid

GRID = tiny_grid("mirrors", """
[[attacks]]
name = "fgsm"
eps = [0, "8/255"]
[[attacks]]
name = "pgd"
norm = "linf"
steps = 3
eps = ["4/255", "8/255"]
[[attacks]]
name = "square"
n_queries = 20
eps = ["8/255"]
[[attacks]]
name = "cw"
norm = "l2"
steps = 5
binary_search_steps = 2
eps = [0.25, 1.0]
[[defenses]]
chain = [{ name = "median_filter", size = 3 }]
[[defenses]]
chain = [{ name = "jpeg", quality = 75 }]
""")


@pytest.fixture
def grid(tmp_path):
    path = tmp_path / "mirrors.toml"
    path.write_text(GRID)
    return load_grid(path)


def _numbers(path) -> tuple[pd.DataFrame, pd.DataFrame]:
    store = Store(path)
    try:
        records, samples = store.records(status=None), store.samples()
    finally:
        store.close()
    records = records.sort_values("key").reset_index(drop=True)
    return records, samples.sort_values(["key", "idx"]).reset_index(drop=True)


@pytest.mark.parametrize("chain, expected", [
    ([("median_filter", {"size": 3})], True),
    ([("gaussian_blur", {"sigma": 1.0})], True),
    ([("jpeg", {"quality": 75})], False),  # BPDA
    ([("random_resize_pad", {"scale": 1.15})], False),  # EOT
    ([("median_filter", {"size": 3}), ("bit_depth", {"bits": 4})], False),  # one BPDA layer is enough
])
def test_which_adaptive_views_are_the_naive_ones(chain, expected):
    detector = create_detector("test_tiny_cnn", input_size=(32, 32))
    assert DefenseSpec(tuple(chain)).adaptive_is_naive(detector) is expected
    assert not DefenseSpec((("jpeg", {"quality": [60, 95]}),), channel=True).adaptive_is_naive(detector)


def test_a_layer_with_a_gradient_path_of_its_own_or_a_view_that_cannot_be_built_is_not_mirrored():
    from dfbench.channels.resize import Resize
    from dfbench.defenses import MedianFilter, adaptive_is_naive, defend
    from dfbench.detectors.per_frame import for_modality

    detector = create_detector("test_tiny_cnn", input_size=(32, 32))
    assert Resize.gradient_path.name == "ITSELF"  # ... yet BPDA in its transform_for_grad
    assert not adaptive_is_naive(defend(detector, MedianFilter(), Resize(0.5)))
    clips = for_modality(detector, "video")  # an image-only defense cannot wrap it: the worker fails its cells
    assert not DefenseSpec((("random_resize_pad", {}),)).adaptive_is_naive(clips)


def test_a_median_filter_is_attacked_once_for_both_modes_with_the_same_numbers(grid, cache_dir, tmp_path,
                                                                                monkeypatch):
    prepared = load_for_grid(grid, cache_dir)
    jobs = plan(grid, set(), prepared).jobs
    median = [j for j in jobs if j.defense and "Median" in j.defense.name]
    assert median and not any(j.adaptive for j in median) and all(len(j.mirrors) == len(j.cells) for j in median)
    jpeg = [j for j in jobs if j.defense and "Jpeg" in j.defense.name]
    assert {j.adaptive for j in jpeg} == {False, True} and not any(j.mirrors for j in jpeg)
    summary = run_grid(grid, Store(tmp_path / "once" / "results.sqlite"), cache_dir)
    assert summary.ran == summary.total == len(grid.cells()) and summary.failed == 0

    # the reference: every view computed on its own
    monkeypatch.setattr(DefenseSpec, "adaptive_is_naive", lambda self, detector: False)
    assert len(plan(grid, set(), prepared).jobs) == len(jobs) + len(median)
    run_grid(grid, Store(tmp_path / "twice" / "results.sqlite"), cache_dir)
    once, once_samples = _numbers(tmp_path / "once" / "results.sqlite")
    twice, twice_samples = _numbers(tmp_path / "twice" / "results.sqlite")
    same = ["key", "status", "adaptive", "attack", "eps", "detector_flags", *METRIC_NAMES]
    pd.testing.assert_frame_equal(once[same], twice[same])
    pd.testing.assert_frame_equal(once_samples, twice_samples)
    mirrored = once[once.defenses.str.contains("Median") & (once.adaptive == 1)]
    assert len(mirrored) == len(grid.cells()) // 5 and (mirrored.seconds == 0).all()  # 5 views: free


def test_a_resumed_run_writes_the_mirrors_its_store_lacks(grid, cache_dir, tmp_path):
    """A store whose naive median cells are done (an older run) gets its adaptive ones from
    the naive jobs, run again: the same numbers as a run from scratch."""
    path = tmp_path / "results.sqlite"
    run_grid(grid, Store(path), cache_dir)
    full, full_samples = _numbers(path)
    store = Store(path)
    with store.conn:
        store.conn.execute("DELETE FROM cells WHERE defenses LIKE 'Median%' AND adaptive = 1")
    resumed = run_grid(grid, store, cache_dir)
    store.close()
    assert resumed.ran == len(grid.cells()) // 5 and resumed.skipped == len(grid.cells()) - resumed.ran
    again, again_samples = _numbers(path)
    redone = again[again.defenses.str.contains("Median") & (again.adaptive == 1)]
    assert (redone.seconds > 0).all()  # crafted again for them alone: not free
    same = ["key", "status", "adaptive", *METRIC_NAMES]
    pd.testing.assert_frame_equal(full[same], again[same])
    pd.testing.assert_frame_equal(full_samples, again_samples)
