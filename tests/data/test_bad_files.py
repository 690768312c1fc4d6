"""The bad-input corpus: broken and unusual image and video files in a dataset folder.

Unusable files are skipped with a one-line reason naming the file and counted; convertible
ones (grey, RGBA, 16-bit) load; the rest of the dataset loads either way. The CLI part shows
the count in the run summary with no traceback.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dfbench.data import create_dataset
from dfbench.data.media import MediaError, read_image, read_video

from .fixtures import face_frames, write_image, write_video

SIZE = 32


def _good_tree(root, video: bool):
    for split in ("train", "val", "test"):
        for label, fake in (("real", False), ("fake", True)):
            for k in range(2):
                target = root / split / label / f"{k}.{'mp4' if video else 'png'}"
                frames = face_frames(k + (3 if fake else 0), 6, fake)
                write_video(target, frames) if video else write_image(target, frames[0])


@pytest.fixture(scope="module")
def image_tree(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("images")
    _good_tree(root, video=False)
    bad = root / "train" / "fake"
    face = face_frames(7, 1, fake=True)[0]
    (bad / "zero.jpg").write_bytes(b"")
    good_jpeg = write_image(bad / "whole.jpg", face).read_bytes()
    (bad / "truncated.jpg").write_bytes(good_jpeg[: len(good_jpeg) // 2])
    (bad / "text.png").write_text("not an image")
    (bad / "notes.txt").write_text("wrong extension")
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(bad / "tiny.png")
    Image.new("L", (8200, 8200)).save(bad / "huge.png")  # more pixels than MAX_PIXELS
    Image.fromarray(face[..., 0]).save(bad / "grey.png")
    Image.fromarray(np.dstack([face, np.full(face.shape[:2], 128, np.uint8)])).save(bad / "rgba.png")
    Image.fromarray(face[..., 0].astype(np.uint16) * 257).save(bad / "sixteen.png")
    return root


EXPECTED_SKIPS = {"zero.jpg": "not a readable image", "truncated.jpg": "not a readable image",
                  "text.png": "not a readable image", "notes.txt": "unknown file type", "tiny.png": "too small",
                  "huge.png": "too large"}


def test_broken_images_are_skipped_and_counted_convertible_ones_load(image_tree, tmp_path):
    data = create_dataset("folder", root=str(image_tree), image_size=SIZE, cache_dir=str(tmp_path / "c"))
    skipped = {p.rsplit("/", 1)[-1]: reason for p, reason in data.skipped}
    assert set(skipped) == set(EXPECTED_SKIPS)
    for name, reason in EXPECTED_SKIPS.items():
        assert name in skipped[name] and reason in skipped[name] and "\n" not in skipped[name]
    assert len(data["train"]) == 4 + 4  # 4 good + whole, grey, rgba, sixteen
    assert data["train"].images.shape[1:] == (3, SIZE, SIZE)


def test_conversions_give_the_same_face(image_tree):
    rgb = read_image(image_tree / "train" / "fake" / "whole.jpg").float()
    grey = read_image(image_tree / "train" / "fake" / "grey.png").float()
    sixteen = read_image(image_tree / "train" / "fake" / "sixteen.png").float()
    rgba = read_image(image_tree / "train" / "fake" / "rgba.png")
    assert torch.equal(grey, sixteen)  # 16-bit scaled back to the same 8-bit values
    assert torch.equal(grey[0], grey[1]) and rgba.shape[0] == 3
    assert (grey - rgb).abs().mean() < 12  # JPEG loss only


@pytest.fixture(scope="module")
def video_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    _good_tree(root, video=True)
    bad = root / "train" / "fake"
    (bad / "zero.mp4").write_bytes(b"")
    whole = write_video(bad / "whole.mp4", face_frames(8, 6, fake=True)).read_bytes()
    (bad / "truncated.mp4").write_bytes(whole[: len(whole) // 2])
    (bad / "text.mp4").write_text("not a video")
    write_video(bad / "noface.mp4", np.full((6, 96, 96, 3), 90, np.uint8))
    write_image(bad / "still.png", face_frames(1, 1)[0])
    return root


def test_broken_videos_are_skipped_and_counted(video_tree, tmp_path):
    data = create_dataset("folder", root=str(video_tree), image_size=SIZE, frames=3, cache_dir=str(tmp_path / "c"))
    skipped = {p.rsplit("/", 1)[-1]: reason for p, reason in data.skipped}
    assert set(skipped) == {"zero.mp4", "truncated.mp4", "text.mp4", "noface.mp4", "still.png"}
    assert "no face found" in skipped["noface.mp4"] and "image in a video dataset" in skipped["still.png"]
    assert "not a readable video" in skipped["zero.mp4"]
    assert data.modality == "video" and len(data["train"]) == 4 + 1


def test_skips_are_cached_too(video_tree, tmp_path, monkeypatch):
    from dfbench.data import files

    create_dataset("folder", root=str(video_tree), image_size=SIZE, frames=3, cache_dir=str(tmp_path / "c"))
    monkeypatch.setattr(files, "read_video", lambda *a, **k: pytest.fail("decoded again"))
    again = create_dataset("folder", root=str(video_tree), image_size=SIZE, frames=3, cache_dir=str(tmp_path / "c"))
    assert len(again.skipped) == 5


def test_frame_sampling_uniform_and_first(tmp_path):
    frames = np.stack([np.full((32, 32, 3), 20 * t, np.uint8) for t in range(10)])  # frame t has value 20 t
    path = write_video(tmp_path / "ramp.mp4", frames)
    uniform = read_video(path, 4, "uniform").float().mean(dim=(1, 2, 3))
    first = read_video(path, 4, "first").float().mean(dim=(1, 2, 3))
    torch.testing.assert_close(uniform, torch.tensor([0.0, 60, 120, 180]), atol=4, rtol=0)  # frames 0, 3, 6, 9
    torch.testing.assert_close(first, torch.tensor([0.0, 20, 40, 60]), atol=4, rtol=0)
    short = read_video(path, 12, "first").float().mean(dim=(1, 2, 3))  # pads with the last frame
    assert len(short) == 12 and abs(short[-1] - 180) < 4 and abs(short[-2] - 180) < 4


def test_read_video_errors_name_the_file(tmp_path):
    (tmp_path / "x.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(MediaError, match="x.mp4"):
        read_video(tmp_path / "x.mp4", 4)


def test_cli_run_on_a_folder_counts_the_skipped_files(video_tree, cache_dir, tmp_path):
    from tests.conftest import tiny_grid
    from tests.test_cli import invoke

    grid = tmp_path / "g.toml"
    grid.write_text(tiny_grid("g", '[[attacks]]\nname = "fgsm"\neps = ["8/255"]\n'))
    out = tmp_path / "r"
    result = invoke("run", "--grid", str(grid), "--dataset", "folder", "--data-root", str(video_tree), "--out",
                    str(out), "--cache", str(tmp_path / "ckpt"))
    assert result.exit_code == 0, result.output
    assert "1 cells: 1 run, 0 already done, 0 failed. 5 input file(s) skipped" in result.output
    assert "Traceback" not in result.output
    import sqlite3
    import json

    row = sqlite3.connect(out / "results.sqlite").execute("SELECT dataset, data_params, n_samples FROM cells").fetchone()
    params = json.loads(row[1])
    assert row[0] == "folder" and row[2] == 4  # the test split: two real and two fake clips
    assert params["frames"] == 8 and params["crop"]["margin"] == 0.3 and params["skipped"] == 5
    assert params["root"] == str(video_tree)


def test_l2_attacks_on_video_are_refused_with_one_line(tmp_path):
    from tests.conftest import tiny_grid
    from tests.test_cli import invoke

    grid = tmp_path / "g.toml"
    grid.write_text(tiny_grid("g", '[[attacks]]\nname = "pgd"\nnorm = "l2"\neps = [0.5]\n', detector="test_tiny_video")
                    .replace('dataset = "mini"', 'dataset = "mini_video"\nframes = 2'))
    result = invoke("run", "--grid", str(grid), "--out", str(tmp_path / "r"), "--cache", str(tmp_path / "c"))
    lines = result.output.strip().splitlines()  # after the progress bar: the data is loaded first
    assert result.exit_code == 2 and lines[-1].startswith("dfbench: error:") and "not per frame" in lines[-1]
    assert "Traceback" not in result.output


def test_skip_warnings_print_once_per_file_and_the_split_sizes_are_said(image_tree, tmp_path, monkeypatch, caplog):
    import logging

    from dfbench.data import files

    monkeypatch.setattr(files, "_said", set())
    with caplog.at_level(logging.INFO, logger="dfbench.data.files"):
        for _ in range(3):  # a run loads its data again for training and for surrogates
            data = create_dataset("folder", root=str(image_tree), image_size=SIZE, cache_dir=str(tmp_path / "c"))
    messages = [r.getMessage() for r in caplog.records]
    for name in EXPECTED_SKIPS:
        assert sum(name in m and m.startswith("skipped") for m in messages) == 1, name
    sizes = [m for m in messages if m.startswith("folder at ")]
    assert sizes == [f"folder at {image_tree}: {len(data['train'])} train / {len(data['val'])} val / "
                     f"{len(data['test'])} test samples"]


def test_cli_faces_option_reaches_the_dataset_and_is_checked(image_tree, tmp_path):
    from tests.conftest import tiny_grid
    from tests.test_cli import invoke

    grid = tmp_path / "g.toml"
    grid.write_text(tiny_grid("g", '[[attacks]]\nname = "fgsm"\neps = ["8/255"]\n'))
    out = tmp_path / "r"
    result = invoke("run", "--grid", str(grid), "--dataset", "folder", "--data-root", str(image_tree), "--faces",
                    "none", "--out", str(out), "--cache", str(tmp_path / "ckpt"))
    assert result.exit_code == 0, result.output
    import json
    import sqlite3

    params = json.loads(sqlite3.connect(out / "results.sqlite").execute("SELECT data_params FROM cells").fetchone()[0])
    assert params["crop"]["faces"] == "none"
    for bad, message in ((["--faces", "retina"], "--faces must be one of mtcnn, none"),
                         (["--faces", "none", "--dataset", "mini"], "--faces applies to datasets of image or video")):
        refused = invoke("run", "--grid", str(grid), *bad, "--out", str(tmp_path / "x"))
        assert refused.exit_code == 2 and message in refused.output and "Traceback" not in refused.output
