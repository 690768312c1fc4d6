"""In-memory image datasets with train/val/test splits and a content fingerprint."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from .._registry import Registry

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    """One split of a dataset.

    Shape:
        - images: ``(N, 3, H, W)`` float32 in [0, 1]
        - labels: ``(N,)`` int64, 0 = real, 1 = fake
        - sources: ``(N,)`` int64, the source image each sample was made from
    """

    images: Tensor
    labels: Tensor
    sources: Tensor

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.ndim not in (4, 5) or len(self.labels) != n or len(self.sources) != n:
            raise ValueError("images, labels and sources must have the same length")

    def __len__(self) -> int:
        return len(self.labels)

    def head(self, n: int | None) -> Split:
        """The first ``n`` samples (all when ``n`` is None)."""
        if n is None or n >= len(self):
            return self
        return Split(self.images[:n], self.labels[:n], self.sources[:n])


@dataclass(frozen=True)
class ImageDataset:
    """A named dataset: its splits and a fingerprint of their exact content."""

    name: str
    splits: dict[str, Split]
    fingerprint: str
    train_draw: Callable[[int], Split] | None = None  # fresh train samples per epoch, if the data allows
    info: dict = field(default_factory=dict)  # how files became tensors (root, frames, crop settings, counts)
    skipped: tuple[tuple[str, str], ...] = ()  # (file, one-line reason) of every file left out
    files: dict[str, tuple[str, ...]] = field(default_factory=dict)  # per split, each sample's file (in order)

    @property
    def modality(self) -> str:
        return "video" if self.splits["test"].images.ndim == 5 else "image"

    def __getitem__(self, split: str) -> Split:
        return self.splits[split]


def fingerprint(name: str, splits: dict[str, Split]) -> str:
    """sha256 over the 8-bit quantized images, labels and sources of every split."""
    h = hashlib.sha256(name.encode())
    for key in sorted(splits):
        s = splits[key]
        h.update(key.encode())
        h.update((s.images * 255).round().to(torch.uint8).numpy().tobytes())
        h.update(s.labels.numpy().tobytes())
        h.update(s.sources.numpy().tobytes())
    return h.hexdigest()


datasets: Registry[ImageDataset] = Registry("dataset", "dfbench.datasets")
register_dataset = datasets.register
