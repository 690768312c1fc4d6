"""8-bit image and clip files: PNG and JPEG through torchvision's codecs, MP4 through PyAV.

MP4 clips are H.264 in RGB (libx264rgb at CRF 0: lossless), so an exported clip holds exactly
the 8-bit frames it was made from; a platform's lossy H.264 is a channel (dfbench.channels).
Reads are bounded (safe_files) and confined to the folder they are read from.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torchvision.io import ImageReadMode, decode_image, encode_jpeg, encode_png

from ..errors import DfbenchError
from ..safe_files import read_bytes

FORMATS = {"png": "image", "jpeg": "image", "mp4": "video"}
SUFFIX = {"png": ".png", "jpeg": ".jpg", "mp4": ".mp4"}
MAX_FILE_BYTES = 64 << 20


def to_uint8(x: Tensor) -> Tensor:
    """``x`` in [0, 1] as 8-bit pixels (rounded to the nearest level), on the CPU."""
    return (x.detach().clamp(0, 1) * 255).round().to(torch.uint8).cpu()


def encode(x: Tensor, fmt: str, quality: int = 95) -> bytes:
    """One image ``(3, H, W)`` or clip ``(T, 3, H, W)`` in [0, 1] as the bytes of a ``fmt`` file."""
    pixels = to_uint8(x)
    if fmt == "png":
        return encode_png(pixels).numpy().tobytes()
    if fmt == "jpeg":
        return encode_jpeg(pixels, quality=quality).numpy().tobytes()
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream("libx264rgb", rate=25, options={"crf": "0", "preset": "medium"})
        stream.width, stream.height, stream.pix_fmt = pixels.shape[3], pixels.shape[2], "rgb24"
        for frame in pixels.permute(0, 2, 3, 1).numpy():
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
        out.mux(stream.encode())
    return buffer.getvalue()


PIL_FORMAT = {"png": "PNG", "jpeg": "JPEG"}
VIDEO_CODECS = ("h264", "hevc", "mpeg4", "vp9", "av1")  # in an MP4 container: what an upload may hold


def decode(data: bytes, fmt: str, shape: tuple[int, ...]) -> Tensor:
    """A file's bytes as ``shape`` in [0, 1] (``(3, H, W)`` or ``(T, 3, H, W)``), 8-bit; a file that
    does not decode, is not what its suffix says, or decodes to another shape is a one-line DfbenchError."""
    try:
        _check_header(data, fmt, shape)
        if fmt == "mp4":
            with av.open(io.BytesIO(data), "r", format="mp4") as src:  # never guessed: no ffconcat, no playlists
                frames = []
                for frame in src.decode(video=0):
                    if (frame.height, frame.width) != tuple(shape[-2:]):  # a size change mid-stream
                        raise DfbenchError(f"holds a {frame.height}x{frame.width} frame, the clean sample is "
                                           f"{shape[-2]}x{shape[-1]}")
                    frames.append(torch.from_numpy(frame.to_ndarray(format="rgb24")).permute(2, 0, 1))
                    if len(frames) > shape[0]:
                        break
            pixels = torch.stack(frames) if frames else torch.empty(0)
        else:
            pixels = decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.RGB)
    except (av.FFmpegError, RuntimeError, ValueError, OSError, IndexError, Image.DecompressionBombError) as exc:
        raise DfbenchError(f"does not decode as {fmt}: {str(exc).splitlines()[0][:200]}") from None
    if pixels.dtype != torch.uint8:
        raise DfbenchError(f"holds {pixels.dtype} pixels, not 8-bit ones")
    if tuple(pixels.shape) != tuple(shape):
        raise DfbenchError(f"decodes to shape {tuple(pixels.shape)}, the clean sample is {tuple(shape)}")
    return pixels.float() / 255


def _check_header(data: bytes, fmt: str, shape: tuple[int, ...]) -> None:
    """Refuse, before any pixel is decoded, a file whose header says another format, codec, frame
    count or frame size (a small file may declare huge or many frames)."""
    if fmt == "mp4":
        with av.open(io.BytesIO(data), "r", format="mp4") as src:
            if not src.streams.video:
                raise DfbenchError("holds no video stream")
            codec = src.streams.video[0].codec_context
            if codec.name not in VIDEO_CODECS:
                raise DfbenchError(f"holds {codec.name} video; an MP4 here holds {', '.join(VIDEO_CODECS)}")
            size = (codec.height, codec.width)
    else:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != PIL_FORMAT[fmt] or getattr(image, "n_frames", 1) != 1:
                raise DfbenchError(f"is a {image.format} file with {getattr(image, 'n_frames', 1)} frame(s), not "
                                   f"one {PIL_FORMAT[fmt]} image")
            size = (image.height, image.width)
    if size != tuple(shape[-2:]):
        raise DfbenchError(f"holds {size[0]}x{size[1]} frames, the clean sample is {shape[-2]}x{shape[-1]}")


def read(path: Path, root: Path, fmt: str, shape: tuple[int, ...], sha256: str | None = None) -> Tensor:
    """The file at ``path`` (confined to ``root``, bounded in size), decoded as :func:`decode`; when
    ``sha256`` is given, the bytes must still have it."""
    data = read_bytes(path, "adversarial file", MAX_FILE_BYTES, root=root)
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise DfbenchError("changed while it was being scored")
    return decode(data, fmt, shape)
