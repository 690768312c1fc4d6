"""Shared fixtures: a tiny detector trained once per session on `mini` at 32x32."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TINY = "test_tiny_cnn"
SIZE = 32


def tiny_grid(name: str, attacks: str, batch_size: int = 48, detector: str = TINY) -> str:
    """A grid file's text: ``detector`` on mini at 32x32, the first 48 test samples, then ``attacks``
    (and any defenses) as TOML."""
    return (f'name = "{name}"\nseed = 0\nbatch_size = {batch_size}\n[data]\ndataset = "mini"\nimage_size = 32\n'
            f'split = "test"\nmax_samples = 48\n[[detectors]]\nname = "{detector}"\n{attacks}')


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """A checkpoint cache shared by the session; the tiny detector is trained into it once."""
    from dfbench.train import TrainConfig, cache_path, train_detector

    cache = tmp_path_factory.mktemp("checkpoints")
    train_detector(TINY, "mini", SIZE, cache_path(cache, TINY, "mini", SIZE, 0), TrainConfig(epochs=6, seed=0))
    return cache


@pytest.fixture(scope="session")
def trained_cnn(cache_dir):
    """custom_cnn at 32x32, 15 epochs (~15 s): a detector good enough (val acc ~0.83) that
    attack strengths can be told apart, which the near-chance tiny one cannot."""
    from dfbench.train import TrainConfig, cache_path, train_detector, trained_detector

    train_detector("custom_cnn", "mini", SIZE, cache_path(cache_dir, "custom_cnn", "mini", SIZE, 0),
                   TrainConfig(epochs=15, seed=0))
    return trained_detector("custom_cnn", "mini", SIZE, cache_dir)


@pytest.fixture(scope="session")
def trained_tiny(cache_dir):
    from dfbench.train import trained_detector

    return trained_detector(TINY, "mini", SIZE, cache_dir)


@pytest.fixture(scope="session")
def mini32():
    from dfbench.data import create_dataset

    return create_dataset("mini", image_size=SIZE)


@pytest.fixture
def fake_training(monkeypatch):
    """Training replaced by saving untrained weights with a true card (fast); returns the paths trained into."""
    from dfbench.detectors import create_detector
    from dfbench.train import trained
    from dfbench.train.checkpoint import save_checkpoint

    paths: list[Path] = []

    def train(name, dataset, image_size, out, config, data_params=None, device=None, **kwargs):
        paths.append(out)
        det = create_detector(name, input_size=(image_size, image_size), **kwargs)
        save_checkpoint(det, out, {"detector": name, "dataset": dataset, "dataset_fingerprint": "f",
                                   "input_size": (image_size, image_size), "seed": 0, "epochs_run": 0,
                                   "best_epoch": 0, "threshold": 0.5, "val": {},
                                   "code_fingerprint": trained.detector_fingerprint(det, image_size, kwargs)})

    monkeypatch.setattr(trained, "train_detector", train)
    return paths


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)


@pytest.fixture(autouse=True, scope="session")
def _crop_cache(tmp_path_factory):
    """Face crops of every test go to a temporary folder, never to the user's cache."""
    import os

    os.environ["DFBENCH_CROP_CACHE"] = str(tmp_path_factory.mktemp("crops"))


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
