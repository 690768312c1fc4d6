"""The real datasets' layouts, each on a tiny fixture tree built here (see fixtures.py).

Every test runs the whole pipeline for real: PyAV decoding, MTCNN face crops, the crop cache.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from dfbench.data import create_dataset, files
from dfbench.errors import ConfigError

from .fixtures import face_frames, write_image, write_video

FRAMES, SIZE = 3, 32


def load(name: str, root, tmp_path, **kwargs):
    return create_dataset(name, root=str(root), image_size=SIZE, frames=FRAMES, cache_dir=str(tmp_path / "crops"),
                          **kwargs)


def video(path, source: int, fake: bool = False, n: int = 6):
    return write_video(path, face_frames(source, n, fake))


@pytest.fixture(scope="module")
def ffpp_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ffpp")
    pairs = {"train": [["000", "001"]], "val": [["002", "003"]], "test": [["004", "005"]]}
    (root / "splits").mkdir()
    for split, p in pairs.items():
        (root / "splits" / f"{split}.json").write_text(json.dumps(p))
    for i in range(6):
        video(root / "original_sequences/youtube/c23/videos" / f"{i:03d}.mp4", i)
    for a, b in [("000", "001"), ("001", "000"), ("002", "003"), ("003", "002"), ("004", "005")]:  # 005_004 absent
        video(root / "manipulated_sequences/Deepfakes/c23/videos" / f"{a}_{b}.mp4", int(a), fake=True)
    return root


def test_ffpp_official_splits_labels_and_a_missing_video(ffpp_root, tmp_path):
    data = load("ffpp", ffpp_root, tmp_path, manipulations=["Deepfakes"])
    assert data.modality == "video"
    assert [len(data[s]) for s in ("train", "val", "test")] == [4, 4, 3]
    assert data["test"].labels.sort().values.tolist() == [0, 0, 1]
    assert data["train"].images.shape == (4, FRAMES, 3, SIZE, SIZE)
    for s in ("train", "val", "test"):  # a pair's originals and fakes share one source
        assert data[s].sources.unique().numel() == 1
    assert [p for p, _ in data.skipped] == [str(ffpp_root / "manipulated_sequences/Deepfakes/c23/videos/005_004.mp4")]
    assert data.info["crop"] == {"size": SIZE, "margin": 0.3, "faces": "mtcnn", "min_face": 20}
    assert data.info["frames"] == FRAMES and data.info["sampling"] == "uniform"


def test_second_load_decodes_nothing(ffpp_root, tmp_path, monkeypatch):
    first = load("ffpp", ffpp_root, tmp_path, manipulations=["Deepfakes"])

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded although the crops are cached")

    monkeypatch.setattr(files, "read_video", no_decoding)
    second = load("ffpp", ffpp_root, tmp_path, manipulations=["Deepfakes"])
    assert second.fingerprint == first.fingerprint
    assert torch.equal(second["train"].images, first["train"].images)


def test_changed_crop_settings_are_a_new_cache_entry(ffpp_root, tmp_path):
    a = load("ffpp", ffpp_root, tmp_path, manipulations=["Deepfakes"])
    b = load("ffpp", ffpp_root, tmp_path, manipulations=["Deepfakes"], margin=0.6)
    assert a.fingerprint != b.fingerprint
    assert not torch.equal(a["train"].images, b["train"].images)


def test_ffpp_without_split_files_says_where_to_get_them(ffpp_root, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(ffpp_root, root)
    shutil.rmtree(root / "splits")
    with pytest.raises(ConfigError, match="copy dataset/splits"):
        load("ffpp", root, tmp_path)


def _hash_names(prefix: str, n_each: int = 1) -> dict[str, list[str]]:
    """Names that the hash split sends to each split (so a tiny fixture covers all three)."""
    found: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    i = 0
    while any(len(v) < n_each for v in found.values()):
        name = f"{prefix}{i}.mp4"
        split = files.hash_split(name)
        if len(found[split]) < n_each:
            found[split].append(name)
        i += 1
    return found


def test_dfdc_metadata_labels_originals_and_bad_entries(tmp_path):
    part = tmp_path / "dfdc" / "dfdc_train_part_0"
    meta = {}
    for k, (split, names) in enumerate(_hash_names("real").items()):
        real = names[0]
        video(part / real, k)
        video(part / f"fake_of_{real}", k, fake=True)
        meta[real] = {"label": "REAL", "split": "train"}
        meta[f"fake_of_{real}"] = {"label": "FAKE", "split": "train", "original": real}
    meta["gone.mp4"] = {"label": "FAKE", "original": "x.mp4"}
    meta["odd.mp4"] = {"label": "MAYBE"}
    (part / "metadata.json").write_text(json.dumps(meta))
    data = load("dfdc", tmp_path / "dfdc", tmp_path)
    for s in ("train", "val", "test"):  # a fake follows its original's split
        assert sorted(data[s].labels.tolist()) == [0, 1]
        assert data[s].sources.unique().numel() == 1
        for path, label in zip(data.files[s], data[s].labels.tolist()):
            assert label == int(Path(path).name.startswith("fake_of_")), path
    reasons = dict(data.skipped)
    assert "not found" in reasons[str(part / "gone.mp4")]
    assert "'MAYBE'" in reasons[str(part / "odd.mp4")]


def test_celebdf_test_list_inverts_labels_and_the_rest_is_split_by_identity(tmp_path):
    root = tmp_path / "celebdf"
    video(root / "Celeb-real/id0_0000.mp4", 0)
    video(root / "Celeb-synthesis/id0_id1_0000.mp4", 0, fake=True)
    video(root / "YouTube-real/00000.mp4", 2)
    identities = {"train": [], "val": []}
    i = 10
    while not all(identities.values()):
        split = files.hash_split(f"id{i}", val=0.1, test=0.0)
        if not identities[split]:
            identities[split].append(i)
            video(root / f"Celeb-real/id{i}_0000.mp4", i)
            video(root / f"Celeb-synthesis/id{i}_id0_0000.mp4", i, fake=True)
        i += 1
    (root / "List_of_testing_videos.txt").write_text(
        "1 Celeb-real/id0_0000.mp4\n0 Celeb-synthesis/id0_id1_0000.mp4\n1 YouTube-real/00000.mp4\n"
        "0 Celeb-synthesis/id9_id1_0000.mp4\nbroken line\n")
    data = load("celebdf", root, tmp_path)
    assert sorted(data["test"].labels.tolist()) == [0, 0, 1]  # "1" means real in this list
    for s in ("train", "val", "test"):
        for path, label in zip(data.files[s], data[s].labels.tolist()):
            assert label == int("Celeb-synthesis" in path), path
    assert sorted(data["train"].labels.tolist()) == [0, 1] and sorted(data["val"].labels.tolist()) == [0, 1]
    assert len(data.skipped) == 2  # the missing id9 video and the broken line


def test_faces140k_csv_splits_resize_whole_images(tmp_path):
    root = tmp_path / "140k"
    images = root / "real_vs_fake" / "real-vs-fake"
    for split, csv_name in (("train", "train.csv"), ("valid", "valid.csv"), ("test", "test.csv")):
        rows = ["id,original_path,label,label_str,path"]
        for k, label in enumerate(("real", "fake")):
            rel = f"{split}/{label}/{k}.jpg"
            write_image(images / rel, face_frames(k, 1, fake=label == "fake")[0])
            rows.append(f"{k},x,{int(label == 'real')},{label},{rel}")
        rows.append(f"9,x,1,real,{split}/real/missing.jpg")
        (root / csv_name).write_text("\n".join(rows) + "\n")
    data = load("faces140k", root, tmp_path)
    assert data.modality == "image" and data.info["crop"]["faces"] == "none"
    for s in ("train", "val", "test"):
        for path, label in zip(data.files[s], data[s].labels.tolist()):
            assert label == int("/fake/" in path), path
    assert data["test"].images.shape == (2, 3, SIZE, SIZE)
    assert sorted(data["val"].labels.tolist()) == [0, 1]
    assert len(data.skipped) == 3 and all("not found" in r for _, r in data.skipped)


@pytest.mark.parametrize("name", ["ffpp", "dfdc", "celebdf", "faces140k", "folder"])
def test_wrong_layout_is_one_clear_error(name, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError) as err:
        load(name, tmp_path / "empty", tmp_path)
    assert str(tmp_path / "empty") in str(err.value) and "\n" not in str(err.value)


def test_missing_root_is_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="needs a data root"):
        create_dataset("folder")
    with pytest.raises(ConfigError, match="is not a folder"):
        create_dataset("folder", root=str(tmp_path / "nowhere"))


def test_label_files_cannot_reach_outside_the_root(tmp_path):
    root = tmp_path / "dfdc"
    part = root / "dfdc_train_part_0"
    secret = video(tmp_path / "secret.mp4", 1)
    meta = {"../../secret.mp4": {"label": "FAKE"}, str(secret): {"label": "REAL"}}
    for k, (split, names) in enumerate(_hash_names("r").items()):
        video(part / names[0], k)
        meta[names[0]] = {"label": "REAL"}
        video(part / f"f{names[0]}", k, fake=True)
        meta[f"f{names[0]}"] = {"label": "FAKE", "original": names[0]}
    part.mkdir(parents=True, exist_ok=True)
    (part / "metadata.json").write_text(json.dumps(meta))
    data = load("dfdc", root, tmp_path)
    outside = [reason for _, reason in data.skipped if "outside the data root" in reason]
    assert len(outside) == 2
    assert not any("secret" in p for s in data.files.values() for p in s)


def test_ffpp_labels_per_file(ffpp_root, tmp_path):
    data = load("ffpp", ffpp_root, tmp_path, manipulations=["Deepfakes"])
    for s in ("train", "val", "test"):
        for path, label in zip(data.files[s], data[s].labels.tolist()):
            assert label == int("manipulated_sequences" in path), path
