"""Reading image and video files into uint8 RGB tensors, with one-line errors naming the file.

Videos are decoded with PyAV (FFmpeg bindings) rather than OpenCV: PyAV raises a typed error
for a corrupt or truncated file, where ``cv2.VideoCapture`` returns ``False`` and leaves the
cause unknown, and it decodes frame by frame so only the sampled frames are kept in memory.
"""

from __future__ import annotations

import logging
import os
import stat
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import DfbenchError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"})
SAMPLINGS = ("uniform", "first")
MIN_SIDE = 16            # smaller images or frames cannot hold a face worth classifying
MAX_PIXELS = 8192 * 8192  # larger images are refused (decompression bombs)


class MediaError(DfbenchError):
    """A file that cannot be used as a sample; the sample is skipped and counted."""


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def sample_indices(total: int, n: int, sampling: str) -> list[int]:
    """Which of ``total`` frames to keep: ``n`` evenly spaced (``uniform``) or the first ``n``.

    A video shorter than ``n`` frames repeats frames (uniform) or its last frame (first), so
    every clip has exactly ``n`` frames.
    """
    if sampling not in SAMPLINGS:
        raise ValueError(f"frame sampling must be one of {', '.join(SAMPLINGS)}, got {sampling!r}")
    if total < 1 or n < 1:
        raise ValueError(f"need at least one frame (total={total}, n={n})")
    if sampling == "first":
        return [min(i, total - 1) for i in range(n)]
    return np.linspace(0, total - 1, n).round().astype(int).tolist()


def _check_size(path: Path, h: int, w: int) -> None:
    if min(h, w) < MIN_SIDE:
        raise MediaError(f"{path}: {w}x{h} pixels is too small (need at least {MIN_SIDE} on each side)")
    if h * w > MAX_PIXELS:
        raise MediaError(f"{path}: {w}x{h} pixels is too large (more than {MAX_PIXELS} pixels)")


def to_rgb(array: np.ndarray, mode: str) -> np.ndarray:
    """Any PIL mode's pixels as ``(H, W, 3)`` uint8: grey is repeated, alpha dropped, 16-bit scaled."""
    if mode.startswith("I;16") or mode == "I" and array.max() > 255:  # 16-bit: scale to 8 bits
        array = (array.astype(np.float64) / 65535 * 255).round().clip(0, 255)
    array = array.astype(np.uint8)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    return np.ascontiguousarray(array[..., :3])


def regular_file(path: Path) -> Path:
    """``path`` if it is (or links to) a regular file; a FIFO, a device (``/dev/zero``, which a decoder
    would read forever) or a folder is a MediaError, skipped and counted like any unreadable file."""
    try:
        if stat.S_ISREG(os.stat(path).st_mode):
            return path
    except OSError as exc:
        raise MediaError(f"{path}: cannot read ({exc.strerror or exc})") from None
    raise MediaError(f"{path}: not a regular file")


def read_image(path: Path) -> Tensor:
    """An image file as ``(3, H, W)`` uint8 RGB; grey, palette, RGBA and 16-bit images converted."""
    from PIL import Image

    regular_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                _check_size(path, img.height, img.width)
                img.load()
                converted: Image.Image = img
                if img.mode not in ("L", "RGB", "RGBA", "I", "I;16", "I;16B", "I;16L"):
                    converted = img.convert("RGBA" if "A" in img.getbands() or img.mode == "P" else "RGB")
                array = to_rgb(np.array(converted), converted.mode)
    except MediaError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaError(f"{path}: not a readable image ({exc})") from None
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def read_video(path: Path, frames: int, sampling: str = "uniform") -> Tensor:
    """``frames`` frames of a video file as ``(T, 3, H, W)`` uint8 RGB (see :func:`sample_indices`).

    The frame count comes from the container; a truncated file that decodes fewer frames
    than it announces is decoded again and sampled over the frames it really has.
    """
    total = _frame_count(path)
    wanted = sample_indices(total, frames, sampling) if total else []
    kept = _decode(path, set(wanted))
    if total == 0 or len(kept) < len(set(wanted)):  # no count in the header, or truncated
        total = _count_frames(path)
        if not total:
            raise MediaError(f"{path}: no decodable video frames")
        wanted = sample_indices(total, frames, sampling)
        kept = _decode(path, set(wanted))
    if any(i not in kept for i in wanted):
        raise MediaError(f"{path}: frames vanished between two decodes (the file is changing or damaged)")
    if len({kept[i].shape for i in wanted}) != 1:
        raise MediaError(f"{path}: frames of different sizes ({sorted({kept[i].shape[:2] for i in wanted})})")
    clip = np.stack([kept[i] for i in wanted])
    _check_size(path, clip.shape[1], clip.shape[2])
    return torch.from_numpy(clip).permute(0, 3, 1, 2).contiguous()


def _open(path: Path):
    import av

    regular_file(path)
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise MediaError(f"{path}: not a readable video ({exc})") from None
    if not container.streams.video:
        container.close()
        raise MediaError(f"{path}: has no video stream")
    return container


def _frame_count(path: Path) -> int:
    with _open(path) as container:
        return int(container.streams.video[0].frames or 0)


def _decode(path: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    """Decode in order, keeping the ``wanted`` frames as ``(H, W, 3)`` arrays."""
    return _decoded(path, wanted, count_only=False)[0]


def _count_frames(path: Path) -> int:
    """The frames that really decode (a truncated file has fewer than its header says)."""
    return _decoded(path, set(), count_only=True)[1]


def _decoded(path: Path, wanted: set[int], count_only: bool) -> tuple[dict[int, np.ndarray], int]:
    import av

    kept: dict[int, np.ndarray] = {}
    count = 0
    with _open(path) as container:
        try:
            for frame in container.decode(video=0):
                if count in wanted:
                    kept[count] = frame.to_ndarray(format="rgb24")
                count += 1
                if not count_only and len(kept) == len(wanted):
                    break
        except av.error.FFmpegError as exc:  # a damaged tail: keep what decoded, the caller re-samples
            log.warning("%s: decoding stopped after %d frames (%s)", path, count, exc)
    return kept, count
