"""`mini_video`: short clips made from the `mini` source faces, for the video detectors.

Each clip follows one still through ``frames`` frames of a moving camera: a slow zoom (in or
out, random per clip) with small per-frame shake. A fake clip is re-made **per frame** (a
fresh self-blend or upsampling draw on every frame), so its artifacts flicker over time, as
frame-by-frame face swaps do; that flicker is the temporal signal a CNN-LSTM can learn and a
single frame does not carry. Same sources and splits as `mini` (by source, 60/20/20).

Like `mini`, it checks the pipeline and shows effects; it is not a real-world number.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F

from .base import ImageDataset, Split, fingerprint, register_dataset
from .fakes import photometric, random_affine, self_blend, uniform, upsample_artifacts
from .mini import _source_ids, lfw_faces

CLIPS_PER_SOURCE = {"train": 4, "val": 2, "test": 2}  # real clips per source; as many fakes


def zoom(x, factors):
    """Zoom each image ``(N, 1, S, S)`` by its factor (> 1 magnifies) about the centre."""
    n = len(x)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1 / factors
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _clips(faces, source_ids, per_source: int, frames: int, g: torch.Generator, fake: bool):
    base = random_affine(faces[source_ids].repeat_interleave(per_source, 0), g, scale=0.06, shift=0.04,
                         degrees=6, flip=True)
    n = len(base)
    start, end = uniform(g, n, 0.95, 1.1), uniform(g, n, 0.95, 1.1)
    t = torch.linspace(0, 1, frames)
    factors = (start[:, None] + (end - start)[:, None] * t[None]).reshape(-1)
    video = zoom(base.repeat_interleave(frames, 0), factors)
    video = random_affine(video, g, scale=0.01, shift=0.01, degrees=1, flip=False)  # camera shake
    if fake:  # half the clips self-blended, half upsampled; a fresh draw on every frame
        half = (n // 2) * frames
        video = torch.cat([self_blend(video[:half], g), upsample_artifacts(video[half:], g)])
    return clip_camera(video.view(n, frames, *video.shape[-2:]), g), source_ids.repeat_interleave(per_source)


def clip_camera(video, g: torch.Generator):
    """`mini`'s camera step with one exposure and tint per clip (sensor noise per frame):
    grey ``(N, T, S, S)`` -> RGB ``(N, T, 3, S, S)``, 8-bit quantized."""
    n = len(video)
    x = photometric(video, g, brightness=0.06, contrast=0.12, gamma=0.12)  # per clip: T acts as channels
    tint = 1 + (torch.rand(n, 3, generator=g) - 0.5) * 0.16
    rgb = x[:, :, None] * tint[:, None, :, None, None]
    rgb = rgb + torch.randn(rgb.shape, generator=g) * uniform(g, n, 0.0, 0.01)[:, None, None, None, None]
    return (rgb.clamp(0, 1) * 255).round() / 255


@lru_cache(maxsize=2)
def build_mini_video(image_size: int = 64, frames: int = 8, seed: int = 0) -> ImageDataset:
    """Clips ``(N, frames, 3, S, S)`` from the `mini` sources; same arguments, same bytes."""
    if image_size < 16 or not 2 <= frames <= 64:
        raise ValueError(f"mini_video needs image_size >= 16 and frames in 2..64, got {image_size}, {frames}")
    faces, ids = lfw_faces(image_size), _source_ids(seed)
    splits = {}
    for index, (name, per_source) in enumerate(CLIPS_PER_SOURCE.items()):
        g = torch.Generator().manual_seed(seed * 1_000_003 + index * 10_007 + 7)
        real, real_src = _clips(faces, ids[name], per_source, frames, g, fake=False)
        fake, fake_src = _clips(faces, ids[name], per_source, frames, g, fake=True)
        labels = torch.cat([torch.zeros(len(real)), torch.ones(len(fake))]).long()
        perm = torch.randperm(len(labels), generator=g)
        splits[name] = Split(torch.cat([real, fake])[perm].contiguous(), labels[perm],
                             torch.cat([real_src, fake_src])[perm])
    info = {"frames": frames, "modality": "video"}
    return ImageDataset("mini_video", splits, fingerprint(f"mini_video-v1-{image_size}-{frames}-{seed}", splits),
                        info=info)


@register_dataset("mini_video")
def mini_video(image_size: int = 64, frames: int = 8, seed: int = 0) -> ImageDataset:
    return build_mini_video(int(image_size), int(frames), int(seed))
