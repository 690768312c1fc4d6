"""H.264 re-encoding of a clip at a CRF drawn per clip, through PyAV's libx264 (yuv420p, as
platforms serve video); BPDA for channel-aware attacks, EOT over the CRF.

Shape: ``(N, T, 3, H, W)`` in [0, 1], H and W even -> same.
"""

from __future__ import annotations

import io
from typing import Any

import av
import numpy as np
import torch
from torch import Tensor

from ..defenses.base import GradientPath, bpda
from ..detectors.base import Detector
from .base import Channel, register_channel, value_range


def h264_roundtrip(clip: np.ndarray, crf: int, preset: str) -> np.ndarray:
    """One clip ``(T, H, W, 3)`` uint8 through libx264 at ``crf`` in an MP4 held in memory, decoded back."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=25, options={"crf": str(crf), "preset": preset})
        stream.width, stream.height, stream.pix_fmt = clip.shape[2], clip.shape[1], "yuv420p"
        stream.codec_context.thread_count = 1
        for frame in clip:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    buffer.seek(0)
    with av.open(buffer, "r") as src:
        frames = [f.to_ndarray(format="rgb24") for f in src.decode(video=0)]
    return np.stack(frames)


class H264(Channel):
    """A platform's H.264 re-encode at ``crf`` (0-51, or a range ``[lo, hi]`` drawn per clip)."""

    gradient_path = GradientPath.BPDA
    modalities = ("video",)
    registered_name = "h264"

    def __init__(self, crf: int | list[int] = 23, preset: str = "medium") -> None:
        super().__init__()
        self.ranges["crf"] = value_range(crf, "crf", 0, 51, integer=True)
        if preset not in PRESETS:
            raise ValueError(f"preset must be one of libx264's {', '.join(PRESETS)}, got {preset!r}")
        self.preset = preset

    def params(self) -> dict[str, Any]:
        return {"preset": self.preset}

    def attach(self, inner: Detector) -> H264:
        """Refuses, at load, a detector whose frames yuv420p cannot hold (odd sides)."""
        super().attach(inner)
        if any(side % 2 for side in inner.input_size):
            raise ValueError(f"h264 (yuv420p) needs even frame sides, the detector takes "
                             f"{inner.input_size[0]}x{inner.input_size[1]}")
        return self

    def _codec(self, x: Tensor) -> Tensor:
        if x.ndim != 5:
            raise ValueError(f"h264 takes clips (N, T, 3, H, W), got shape {tuple(x.shape)}")
        if x.shape[-1] % 2 or x.shape[-2] % 2:
            raise ValueError(f"h264 (yuv420p) needs even frame sides, got {x.shape[-2]}x{x.shape[-1]}")
        pixels = (x.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 1, 3, 4, 2).cpu().numpy()
        crfs = self.draw("crf", len(pixels))
        decoded = [torch.from_numpy(h264_roundtrip(clip, int(crf), self.preset)) for clip, crf in zip(pixels, crfs)]
        return torch.stack(decoded).permute(0, 1, 4, 2, 3).to(x.device, x.dtype) / 255

    def transform(self, x: Tensor) -> Tensor:
        return self._codec(x)

    def transform_for_grad(self, x: Tensor) -> Tensor:
        return bpda(x, self._codec(x))

    def forward(self, x: Tensor) -> Tensor:
        """Whole clips through the codec (not frame by frame, as other layers go)."""
        if self.inner is None:
            raise RuntimeError(f"{self.describe()} is not attached to a detector")
        step = self.transform_for_grad if self.adaptive and torch.is_grad_enabled() else self.transform
        return self.inner(step(x))


PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


@register_channel("h264")
def h264(**params) -> H264:
    return H264(**params)
