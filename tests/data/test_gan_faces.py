"""The opt-in `gan_faces` dataset (MobileStyleGAN through OpenVINO; never a default)."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from dfbench.data import create_dataset, gan_faces
from dfbench.errors import DfbenchError


def test_without_the_extra_it_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "random_face" else real(name, *a))
    gan_faces.build_gan_faces.cache_clear()
    with pytest.raises(DfbenchError, match=r"pip install openvino && pip install --no-deps random-face"):
        create_dataset("gan_faces", image_size=32)


def test_gan_faces_are_brought_to_lfw_form():
    rgb = torch.rand(2, 3, 1024, 1024)
    out = gan_faces.like_lfw(rgb)
    assert out.shape == (2, 1, 25, 25) and 0 <= out.min() and out.max() <= 1


@pytest.mark.slow
def test_generated_dataset_is_balanced_split_by_face_and_cached(tmp_path):
    if importlib.util.find_spec("random_face") is None or importlib.util.find_spec("openvino") is None:
        pytest.skip("the opt-in extra is not installed (its package does not import: find_spec only)")
    data = create_dataset("gan_faces", image_size=32, cache_dir=str(tmp_path))
    for split in ("train", "val", "test"):
        s = data[split]
        assert s.images.shape[1:] == (3, 32, 32) and s.labels.float().mean() == 0.5
    train_sources = set(data["train"].sources.tolist())
    assert not train_sources & set(data["test"].sources.tolist())
    faces = gan_faces.gan_sources(0, tmp_path)  # from the cache now
    assert faces.shape == (100, 1, 25, 25) and faces.std() > 0.05  # real pictures, not a constant
