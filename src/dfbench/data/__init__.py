"""Datasets: the embedded `mini` and (later) loaders for real datasets on disk."""

from . import gan_faces, layouts, mini, mini_video  # noqa: F401  (registration)
from .base import SPLITS, ImageDataset, Split, datasets, register_dataset

__all__ = ["ImageDataset", "Split", "SPLITS", "datasets", "register_dataset", "create_dataset"]


def create_dataset(name: str, **kwargs) -> ImageDataset:
    return datasets.create(name, **kwargs)
