"""Attacking the whole pipeline (full frames before MTCNN) on a generated video folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dfbench.attacks import create_attack
from dfbench.benchmark.pipeline import ThroughCrops, attack_pipeline, iou
from dfbench.data import create_dataset
from dfbench.data.faces import CropSettings, FaceCropper, fill_boxes
from dfbench.data.media import read_video
from dfbench.train import trained_detector
from tests.data.fixtures import face_frames, write_video

SIZE, FRAMES = 32, 3


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipe")
    for split in ("train", "val", "test"):
        for label, fake in (("real", False), ("fake", True)):
            for k in range(3):
                write_video(root / split / label / f"{k}.mp4", face_frames(k + (10 if fake else 0), 6, fake))
    params = {"root": str(root), "frames": FRAMES, "cache_dir": str(root.parent / f"{root.name}-crops")}
    data = create_dataset("folder", image_size=SIZE, **params)
    cache = root.parent / f"{root.name}-ckpt"
    trained = trained_detector("test_tiny_cnn", "folder", SIZE, cache, data_params=params, modality=data.modality)
    return data, trained


def files(data):
    return list(zip(map(Path, data.files["test"]), data["test"].labels.tolist()))


def test_the_crop_window_is_the_one_the_dataset_used(setup):
    data, trained = setup
    settings = CropSettings(**data.info["crop"])
    path = Path(data.files["test"][0])
    raw = read_video(path, FRAMES)
    seen = ThroughCrops(trained.detector, fill_boxes(FaceCropper(settings).boxes(raw), str(path)), settings, True)
    with torch.no_grad():
        through = seen.score(raw.float()[None] / 255)
        cached = trained.detector.score(data["test"].images[:1])  # the dataset's 8-bit crops
    torch.testing.assert_close(through, cached, atol=0.02, rtol=0)


def test_zero_budget_changes_nothing(setup):
    data, trained = setup
    result = attack_pipeline(trained.detector, files(data), create_attack("fgsm", eps=0.0),
                             CropSettings(**data.info["crop"]), FRAMES).summary()
    assert result["n"] == 6 and result["frames"] == 6 * FRAMES
    assert result["face_lost_rate"] == 0 and result["box_moved_rate"] == 0
    assert result["adv_acc_fixed_crops"] == result["clean_acc"] == result["adv_acc_end_to_end"]


class Blank:
    """Not a real attack: it paints every frame grey, so MTCNN must lose every face."""

    norm = "linf"

    def perturb(self, detector, x, y):
        return torch.full_like(x, 90 / 255)


def test_lost_faces_are_counted_against_the_clean_detections(setup):
    data, trained = setup
    r = attack_pipeline(trained.detector, files(data), Blank(), CropSettings(**data.info["crop"]), FRAMES)
    assert r.n == 6 and r.frames == 6 * FRAMES  # every clean frame had a face
    assert r.frames_face_lost == r.frames and r.frames_box_moved == 0 and r.samples_face_lost == 6
    reals = sum(label == 0 for _, label in files(data))
    assert r.adv_correct_end_to_end == reals  # nothing left to score: reals pass, fakes go unflagged


def test_a_real_attack_moves_the_decision_through_the_crop_window(setup):
    data, trained = setup
    r = attack_pipeline(trained.detector, files(data), create_attack("pgd", eps=32 / 255, steps=10, seed=0),
                        CropSettings(**data.info["crop"]), FRAMES)
    assert r.n == 6 and r.adv_correct_fixed_crops < r.clean_correct


def test_the_detector_stays_in_eval_mode_and_results_repeat(setup):
    data, trained = setup
    settings = CropSettings(**data.info["crop"])
    runs = [attack_pipeline(trained.detector, files(data), create_attack("pgd", eps=8 / 255, steps=3, seed=0),
                            settings, FRAMES).summary() for _ in range(2)]
    assert not any(m.training for m in trained.detector.modules())  # no dropout or batch statistics
    assert runs[0] == runs[1]


def test_unreadable_files_are_skipped_and_counted(setup, tmp_path):
    data, trained = setup
    (tmp_path / "broken.mp4").write_bytes(b"nope")
    r = attack_pipeline(trained.detector, [(tmp_path / "broken.mp4", 1)] + files(data)[:1],
                        create_attack("fgsm", eps=0.0), CropSettings(**data.info["crop"]), FRAMES)
    assert r.n == 1 and len(r.skipped) == 1 and "broken.mp4" in r.skipped[0][1]


def test_iou():
    assert iou((0, 0, 2, 2), (0, 0, 2, 2)) == 1
    assert iou((0, 0, 2, 2), (1, 0, 3, 2)) == pytest.approx(2 / 6)
    assert iou((0, 0, 1, 1), (2, 2, 3, 3)) == 0


def test_pipeline_cli_refuses_data_without_files(cache_dir):
    from tests.test_cli import invoke

    result = invoke("pipeline", "test_tiny_cnn", "--cache", str(cache_dir))
    assert result.exit_code == 2 and "no video or image files" in result.output
    assert len(result.output.strip().splitlines()) == 1
