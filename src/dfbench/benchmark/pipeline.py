"""Attacking the whole pipeline: perturb the full frame, before face detection.

The grid attacks face crops. A real adversary edits the video itself, and the face detector
runs on what they edited. Per sample (a clip, or an image as a 1-frame clip):

1. MTCNN finds the face in the clean frames; the detector scores the crops (clean).
2. The attack perturbs the **full frames** (L-inf budget per frame) against the detector
   seen through those crop windows: a differentiable crop, so only the face region moves.
   The adversarial frames are rounded to 8 bits, as a video file stores them.
3. MTCNN runs again on the adversarial frames. Counted, over the frames where it found a
   face on the clean frames: the face lost, or its box moved (IoU < 0.5 with the clean box).
   The detector then scores the re-detected crops: the end-to-end adversarial decision.

Reported: clean accuracy, adversarial accuracy with the clean crop windows (what the grid
measures), end-to-end adversarial accuracy after re-detection, and the face detector counts.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from ..attacks import Attack
from ..data.faces import Box, CropSettings, FaceCropper, crop, fill_boxes
from ..data.media import MediaError, is_video, read_image, read_video
from ..detectors.base import Detector

log = logging.getLogger(__name__)
IOU_MOVED = 0.5


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class ThroughCrops(Detector):
    """A detector seen through fixed crop windows: full frames ``(1, T, 3, H, W)`` -> ``(1, 2)``."""

    def __init__(self, inner: Detector, boxes: list[Box], settings: CropSettings, video: bool) -> None:
        super().__init__(inner.input_size)
        self.inner, self.boxes, self.settings, self.video = inner, boxes, settings, video
        self.threshold = inner.threshold
        self.modality = "video"
        self.training = inner.training  # this module only: never change the inner mode

    def normalize(self, x: Tensor) -> Tensor:
        return x  # the inner detector normalizes its crops

    def classify(self, z: Tensor) -> Tensor:
        crops = torch.stack([torch.cat([crop(z[n, t:t + 1], box, self.settings) for t, box in enumerate(self.boxes)])
                             for n in range(len(z))])  # (N, T, 3, S, S)
        return self.inner(crops if self.video else crops[:, 0])


@dataclass
class PipelineResult:
    n: int = 0
    clean_correct: int = 0
    adv_correct_fixed_crops: int = 0
    adv_correct_end_to_end: int = 0
    frames: int = 0  # frames with a face on the clean input: what the two counts below are out of
    frames_face_lost: int = 0
    frames_box_moved: int = 0
    samples_face_lost: int = 0  # no face in any adversarial frame: the pipeline cannot score it
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> dict[str, float | int]:
        n, f = max(self.n, 1), max(self.frames, 1)
        return {"n": self.n, "clean_acc": self.clean_correct / n,
                "adv_acc_fixed_crops": self.adv_correct_fixed_crops / n,
                "adv_acc_end_to_end": self.adv_correct_end_to_end / n,
                "frames": self.frames, "face_lost_rate": self.frames_face_lost / f,
                "box_moved_rate": self.frames_box_moved / f, "samples_face_lost": self.samples_face_lost,
                "skipped": len(self.skipped)}


def attack_pipeline(detector: Detector, files: list[tuple[Path, int]], attack: Attack, settings: CropSettings,
                    frames: int = 8, sampling: str = "uniform") -> PipelineResult:
    """Run steps 1-3 (module doc) on each ``(file, label)``; unusable files are skipped and counted.

    A sample whose adversarial frames have no face at all counts as evaded when it is a fake
    (the pipeline outputs nothing to flag) and as correct when it is real.
    """
    cropper, result = FaceCropper(settings), PipelineResult()
    # the attack's output is rounded to 8 bits and cropped again before it is scored: a first adversarial,
    # just across the boundary, would not survive that, so the adversary's file is the last iterate
    attack = copy.copy(attack)
    attack.first_adversarial = False
    detector.eval()
    for path, label in files:
        try:
            video = is_video(path)
            raw = read_video(path, frames, sampling) if video else read_image(path)[None]
            clean_boxes = cropper.boxes(raw, str(path))
            boxes = fill_boxes(clean_boxes, str(path))
        except MediaError as exc:
            result.skipped.append((str(path), str(exc)))
            log.warning("skipped %s", exc)
            continue
        x = raw.float()[None] / 255  # (1, T, 3, H, W)
        seen = ThroughCrops(detector, boxes, settings, video)
        # The adversary writes a video file: 8-bit frames. Both adversarial scores read those.
        x_adv = (attack.perturb(seen, x, torch.tensor([label])) * 255).round().clamp(0, 255) / 255
        try:
            new = cropper.boxes((x_adv[0] * 255).round().to(torch.uint8), str(path))
        except MediaError as exc:  # the face detector failed outright on the adversarial frames
            log.warning("face detection failed on adversarial frames: %s", exc)
            new = [None] * len(clean_boxes)
        with torch.no_grad():
            clean_fake, fixed_fake = int(seen.predict(x)[0]), int(seen.predict(x_adv)[0])
        result.n += 1
        result.clean_correct += int(clean_fake == label)
        result.adv_correct_fixed_crops += int(fixed_fake == label)
        faced = [i for i, b in enumerate(clean_boxes) if b is not None]  # frames MTCNN found a face in, clean
        result.frames += len(faced)
        result.frames_face_lost += sum(new[i] is None for i in faced)
        result.frames_box_moved += sum(b is not None and c is not None and iou(b, c) < IOU_MOVED
                                       for b, c in ((new[i], clean_boxes[i]) for i in faced))
        if all(b is None for b in new):
            result.samples_face_lost += 1
            result.adv_correct_end_to_end += int(label == 0)  # nothing to score: a fake goes unflagged
            continue
        regained = ThroughCrops(detector, fill_boxes(new, str(path)), settings, video)
        with torch.no_grad():
            result.adv_correct_end_to_end += int(int(regained.predict(x_adv)[0]) == label)
    return result


def pipeline_on_grid(detector_name: str, grid, cache_dir: Path, attack: str, eps: float, n: int,
                     **attack_params) -> PipelineResult:
    """:func:`attack_pipeline` on the first ``n`` files of ``grid``'s split, with the detector and
    the load settings (frames, sampling, crop) that `dfbench run` uses on this grid."""
    from ..attacks import create_attack
    from ..data import create_dataset
    from ..errors import DfbenchError
    from .prepare import load_trained

    the_attack = create_attack(attack, eps=eps, seed=grid.seed, **attack_params)  # a bad attack: before training
    if the_attack.norm != "linf":
        raise DfbenchError(f"the pipeline attack spends an L-inf budget per frame; {attack} here is {the_attack.norm}")
    data = create_dataset(grid.dataset, **grid.dataset_kwargs())
    if not data.files or data.info.get("crop", {}).get("faces") != "mtcnn":
        raise DfbenchError(f"dataset {grid.dataset!r} has no video or image files with MTCNN face crops to attack "
                           "before detection (use a dataset from disk: --dataset folder --data-root PATH)")
    trained = load_trained(grid, grid.detector_spec(detector_name), cache_dir, data)  # as `run` evaluates it
    files = list(zip(map(Path, data.files[grid.split]), data[grid.split].labels.tolist()))[:n]
    info = data.info
    return attack_pipeline(trained.detector, files, the_attack, CropSettings(**info["crop"]), info["frames"],
                           info["sampling"])
