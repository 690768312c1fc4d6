"""Face crops with MTCNN (Zhang et al. 2016) from facenet-pytorch, whose weights ship in the package.

The rule for frames without a face: a frame where MTCNN finds no face takes the box of the
nearest frame that has one (the face rarely jumps between sampled frames); a sample with no
face in any frame is skipped and counted as ``no face``. With ``faces = "none"`` the whole
frame is resized instead (for datasets that are already face crops, like the 140k set).

facenet-pytorch 2.6.0 pins torch<2.3 and numpy<2 in its metadata although its code runs on
this project's torch and numpy, so it is installed with ``pip install --no-deps`` (Makefile).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import DfbenchError
from .media import MediaError

FACE_MODES = ("mtcnn", "none")


@dataclass(frozen=True)
class CropSettings:
    """How a frame becomes a model input; every field is recorded with the dataset."""

    size: int = 64            # output side in pixels
    margin: float = 0.3       # the face box grows by this fraction of its side (FF++ practice: 1.3x)
    faces: str = "mtcnn"      # "mtcnn" or "none" (resize the whole frame)
    min_face: int = 20        # MTCNN's smallest face side in pixels

    def __post_init__(self) -> None:
        if self.faces not in FACE_MODES:
            raise ValueError(f"faces must be one of {', '.join(FACE_MODES)}, got {self.faces!r}")
        if not 16 <= self.size <= 1024 or not 0 <= self.margin <= 2 or self.min_face < 4:
            raise ValueError(f"bad crop settings: size {self.size} (16..1024), margin {self.margin} (0..2), "
                             f"min_face {self.min_face} (>= 4)")


def _mtcnn(min_face: int):
    try:
        from facenet_pytorch import MTCNN
    except ImportError:
        raise DfbenchError("face crops need facenet-pytorch: pip install --no-deps facenet-pytorch==2.6.0 "
                           "(see the README)") from None
    return MTCNN(keep_all=False, select_largest=True, min_face_size=min_face, device="cpu")


class FaceCropper:
    """``(T, 3, H, W)`` uint8 frames -> ``(T, 3, size, size)`` uint8 face crops."""

    def __init__(self, settings: CropSettings) -> None:
        self.settings = settings
        self._detector: Any = None  # facenet-pytorch's MTCNN, built on first use

    def boxes(self, frames: Tensor, name: str = "input") -> list[tuple[float, float, float, float] | None]:
        """The most prominent face box ``(x0, y0, x1, y1)`` per frame, or None."""
        h, w = frames.shape[-2:]
        if min(h, w) < self.settings.min_face:
            raise MediaError(f"{name}: {w}x{h} frames are smaller than the smallest face MTCNN looks for "
                             f"(min_face = {self.settings.min_face})")
        if self._detector is None:
            self._detector = _mtcnn(self.settings.min_face)
        try:
            found, _ = self._detector.detect(frames.permute(0, 2, 3, 1).numpy())
        except (ValueError, RuntimeError, IndexError) as exc:  # facenet's own failures on odd inputs
            raise MediaError(f"{name}: face detection failed ({type(exc).__name__}: {exc})") from None
        return [None if b is None else (float(b[0][0]), float(b[0][1]), float(b[0][2]), float(b[0][3])) for b in found]

    def __call__(self, frames: Tensor, name: str) -> tuple[Tensor, int]:
        """Crops and the number of frames that borrowed a neighbour's box (see module doc)."""
        if self.settings.faces == "none":
            return _resize(frames, self.settings.size), 0
        boxes = self.boxes(frames, name)
        filled = fill_boxes(boxes, name)
        crops = torch.stack([crop(frame[None].float(), box, self.settings)[0] for frame, box in zip(frames, filled)])
        return crops.round().clamp(0, 255).to(torch.uint8), sum(b is None for b in boxes)


Box = tuple[float, float, float, float]


def fill_boxes(boxes: list[Box | None], name: str) -> list[Box]:
    """The rule for frames without a face: the box of the nearest frame that has one."""
    have = [i for i, b in enumerate(boxes) if b is not None]
    if not have:
        raise MediaError(f"{name}: no face found in any of {len(boxes)} frame(s)")
    return [boxes[min(have, key=lambda j: abs(j - i))] for i in range(len(boxes))]  # type: ignore[misc]


def window(box: Box, h: int, w: int, margin: float) -> tuple[int, int, int]:
    """``(top, left, side)`` of the square crop: ``1 + margin`` times the box's longer side about
    its centre, moved (not cut) to stay inside the ``h x w`` frame."""
    x0, y0, x1, y1 = box
    side = min(max(x1 - x0, y1 - y0) * (1 + margin), h, w)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left = int(round(min(max(cx - side / 2, 0), w - side)))
    top = int(round(min(max(cy - side / 2, 0), h - side)))
    return top, left, max(int(round(side)), 1)


def crop(frames: Tensor, box: Box, s: CropSettings) -> Tensor:
    """``(N, 3, H, W)`` float -> ``(N, 3, size, size)`` float crops at ``box``; differentiable in the pixels."""
    top, left, side = window(box, frames.shape[-2], frames.shape[-1], s.margin)
    return F.interpolate(frames[..., top:top + side, left:left + side], size=(s.size, s.size), mode="bilinear",
                         antialias=True, align_corners=False)


def _resize(frames: Tensor, size: int) -> Tensor:
    x = F.interpolate(frames.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8)
