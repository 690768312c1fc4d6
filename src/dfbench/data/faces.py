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
        self._detector = None

    def boxes(self, frames: Tensor) -> list[tuple[float, float, float, float] | None]:
        """The most prominent face box ``(x0, y0, x1, y1)`` per frame, or None."""
        if self._detector is None:
            self._detector = _mtcnn(self.settings.min_face)
        found, _ = self._detector.detect(frames.permute(0, 2, 3, 1).numpy())
        return [None if b is None else tuple(float(v) for v in b[0]) for b in found]

    def __call__(self, frames: Tensor, name: str) -> tuple[Tensor, int]:
        """Crops and the number of frames that borrowed a neighbour's box (see module doc)."""
        if self.settings.faces == "none":
            return _resize(frames, self.settings.size), 0
        boxes = self.boxes(frames)
        have = [i for i, b in enumerate(boxes) if b is not None]
        if not have:
            raise MediaError(f"{name}: no face found in any of {len(frames)} frame(s)")
        crops = []
        for i, frame in enumerate(frames):
            box = boxes[min(have, key=lambda j: abs(j - i))]
            crops.append(_crop(frame, box, self.settings))
        return torch.stack(crops), len(frames) - len(have)


def _crop(frame: Tensor, box: tuple[float, float, float, float], s: CropSettings) -> Tensor:
    """A square around the box centre, ``1 + margin`` times its longer side, clamped to the frame."""
    _, h, w = frame.shape
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) * (1 + s.margin)
    side = min(side, h, w)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left = int(round(min(max(cx - side / 2, 0), w - side)))
    top = int(round(min(max(cy - side / 2, 0), h - side)))
    side_px = max(int(round(side)), 1)
    return _resize(frame[None, :, top:top + side_px, left:left + side_px], s.size)[0]


def _resize(frames: Tensor, size: int) -> Tensor:
    x = F.interpolate(frames.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8)
