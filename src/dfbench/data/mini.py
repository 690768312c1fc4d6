"""`mini`: the embedded default dataset, built deterministically from scikit-image's data.

Reals are the 100 real LFW face crops that scikit-image ships (``skimage.data.lfw_subset()``,
first 100 rows; 25x25 grey). Fakes are made from those same faces by documented techniques
(:mod:`dfbench.data.fakes`): self-blended images and GAN-upsampling artifacts. Nobody's
likeness is copied into a fake of someone else.

The 100 source faces are split 60/20/20 into train/val/test *by source*, so a real face
and the fakes made from it never straddle two splits. Each source yields several real views
(random flips, small affine jitter) and as many fakes (half of each technique), so the
classes are balanced; every image then goes through the same ``camera`` step.

`mini` checks the pipeline and shows effects; it is not a real-world robustness number.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from .base import ImageDataset, Split, fingerprint, register_dataset
from .fakes import camera, random_affine, self_blend, upsample_artifacts

N_SOURCES = 100
SPLIT_SOURCES = {"train": 60, "val": 20, "test": 20}
VIEWS_PER_SOURCE = {"train": 8, "val": 4, "test": 4}  # reals per source; as many fakes


def lfw_faces(size: int) -> torch.Tensor:
    """The 100 LFW face crops shipped by scikit-image, resized: ``(100, 1, size, size)``."""
    from skimage.data import lfw_subset

    faces = torch.from_numpy(np.asarray(lfw_subset()[:N_SOURCES], dtype=np.float32))[:, None]
    return F.interpolate(faces, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)


def _make_split(faces: torch.Tensor, source_ids: torch.Tensor, views: int, g: torch.Generator) -> Split:
    base = faces[source_ids].repeat_interleave(views, 0)
    sources = source_ids.repeat_interleave(views)
    real = random_affine(base, g, scale=0.06, shift=0.04, degrees=6, flip=True)
    half = len(base) // 2
    jittered = random_affine(base, g, scale=0.06, shift=0.04, degrees=6, flip=True)
    fake = torch.cat([self_blend(jittered[:half], g), upsample_artifacts(jittered[half:], g)])
    # Interleave the SBI and upsampling halves per source so `head(n)` keeps both kinds.
    order = torch.arange(len(base)).view(2, -1).t().reshape(-1)
    fake, fake_sources = fake[order], sources[order]
    images = camera(torch.cat([real, fake]), g)
    labels = torch.cat([torch.zeros(len(real)), torch.ones(len(fake))]).long()
    all_sources = torch.cat([sources, fake_sources])
    # Shuffle so that any prefix of the split is class-balanced in expectation.
    perm = torch.randperm(len(labels), generator=g)
    return Split(images[perm].contiguous(), labels[perm], all_sources[perm])


def _source_ids(seed: int) -> dict[str, torch.Tensor]:
    order = torch.randperm(N_SOURCES, generator=torch.Generator().manual_seed(seed))
    ids, start = {}, 0
    for name, count in SPLIT_SOURCES.items():
        ids[name] = order[start:start + count]
        start += count
    return ids


@lru_cache(maxsize=4)
def build_mini(image_size: int = 64, seed: int = 0) -> ImageDataset:
    """Build `mini` at ``image_size`` (square) for ``seed``; same arguments, same bytes.

    ``train_draw(epoch)`` makes a fresh draw of train views and fakes from the same train
    sources (as the SBI paper makes new blends every iteration); draw 0 is ``splits["train"]``.
    """
    if image_size < 16:
        raise ValueError(f"mini needs image_size >= 16, got {image_size}")
    faces = lfw_faces(image_size)
    ids = _source_ids(seed)

    def draw(split: str, epoch: int = 0) -> Split:
        split_index = list(SPLIT_SOURCES).index(split)
        g = torch.Generator().manual_seed(seed * 1_000_003 + split_index * 10_007 + epoch)
        return _make_split(faces, ids[split], VIEWS_PER_SOURCE[split], g)

    splits = {name: draw(name) for name in SPLIT_SOURCES}
    return ImageDataset("mini", splits, fingerprint(f"mini-v1-{image_size}-{seed}", splits),
                        train_draw=lambda epoch: draw("train", epoch))


@register_dataset("mini")
def mini(image_size: int = 64, seed: int = 0) -> ImageDataset:
    return build_mini(int(image_size), int(seed))
