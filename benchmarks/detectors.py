"""Per detector: parameters, inference ms per frame, and ms per 10-second clip on this CPU.

A 10-second clip at 30 fps is 300 frames; like the ResNeXt-LSTM paper, the detectors see 30
sampled frames: one (1, 30, 3, S, S) forward for a video model, 30 frames per-frame-averaged
for an image model. Each at its paper's input size (``--size`` overrides). The front end is
timed separately on a generated 10-second 640x360 video: PyAV decoding of all 300 frames to
keep 30, then MTCNN on those 30. Ratios are against custom_cnn measured in the same run.

    cd benchmarks && ../.venv/bin/python detectors.py [--repeats 3] [--size 64]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from _timing import compare
from dfbench.data.faces import CropSettings, FaceCropper
from dfbench.data.media import read_video
from dfbench.detectors import create_detector
from dfbench.detectors.per_frame import for_modality

PAPER_SIZES = {"custom_cnn": 256, "hybrid_cnn_lstm_model2": 128, "meso4": 256, "mesoinception4": 256,
               "xception": 299, "efficientnet_b4": 380, "mtcnn_inception": 160, "cnn_lstm": 224, "resnext_lstm": 224}
CLIP_FRAMES = 30


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=None, help="one input size for all [default: the paper's]")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows = []
    for name, paper_size in PAPER_SIZES.items():
        size = args.size or paper_size
        torch.manual_seed(0)
        det = create_detector(name, input_size=(size, size)).eval()
        params = sum(p.numel() for p in det.parameters())
        clip = torch.rand(1, CLIP_FRAMES, 3, size, size)
        video = for_modality(det, "video").eval()
        with torch.no_grad():
            if det.modality == "image":
                frame = torch.rand(8, 3, size, size)
                t = compare({"frame": lambda: det(frame), "clip": lambda: video(clip)}, args.repeats)
                per_frame = t["frame"] / 8
            else:
                t = compare({"clip": lambda: video(clip)}, args.repeats)
                per_frame = t["clip"] / CLIP_FRAMES
        rows.append((name, size, params, per_frame * 1000, t["clip"] * 1000))
        print(f"  measured {name}", file=sys.stderr, flush=True)
    base = rows[0][4]
    print(f"| detector | input | parameters | ms / frame | ms / 10-s clip ({CLIP_FRAMES} frames) | clip time vs custom_cnn |")
    print("|---|---|---:|---:|---:|---:|")
    for name, size, params, ms_frame, ms_clip in rows:
        print(f"| {name} | {size} | {params / 1e6:.2f}M | {ms_frame:.1f} | {ms_clip:.0f} | {ms_clip / base:.2f}x |")
    front_end(args.repeats)


def front_end(repeats: int) -> None:
    """PyAV decode of a 10-second 640x360 clip (keep 30 of 300 frames) and MTCNN on the 30."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.data.fixtures import face_frames, write_video

    frames = np.zeros((300, 360, 640, 3), np.uint8) + 90
    faces = face_frames(3, 300, size=128)
    frames[:, 100:228, 250:378] = faces
    with tempfile.TemporaryDirectory() as tmp:
        path = write_video(Path(tmp) / "ten_seconds.mp4", frames, fps=30)
        clip = read_video(path, CLIP_FRAMES)
        cropper = FaceCropper(CropSettings(size=160))
        t = compare({"decode": lambda: read_video(path, CLIP_FRAMES), "mtcnn": lambda: cropper(clip, "clip")},
                    repeats)
    print(f"\nfront end per 10-second 640x360 clip: PyAV decode (300 frames, keep {CLIP_FRAMES}) "
          f"{t['decode'] * 1000:.0f} ms, MTCNN on {CLIP_FRAMES} frames {t['mtcnn'] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
