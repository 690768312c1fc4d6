"""Datasets from files on disk: a layout lists labelled items, this module turns them into splits.

A layout (``layouts/*.py``) knows one dataset's folders and label files and yields
:class:`Item` s. :func:`load_items` decodes each file (images as they are, videos as
``frames`` sampled frames), crops the face (:mod:`.faces`), caches the crops
(:mod:`.crop_cache`) and stacks the splits. A file that cannot be used is skipped with a
one-line warning naming it, and counted in :attr:`ImageDataset.skipped`; the rest loads.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..errors import ConfigError
from .base import SPLITS, ImageDataset, Split, fingerprint
from .crop_cache import CropCache
from .faces import CropSettings, FaceCropper
from .media import MediaError, is_image, is_video, read_image, read_video, sample_indices

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Item:
    """One labelled file. ``source`` groups a real and the fakes made from it (same split)."""

    path: Path
    label: int  # 0 = real, 1 = fake
    split: str
    source: str


@dataclass(frozen=True)
class LoadSettings:
    """Everything that turns a file into a tensor; recorded with every result."""

    frames: int = 8               # sampled frames per video
    sampling: str = "uniform"     # "uniform" (evenly spaced) or "first"
    crop: CropSettings = field(default_factory=CropSettings)
    max_per_split: int | None = None  # keep the first N items of each split (a quick look at big data)

    def __post_init__(self) -> None:
        sample_indices(1, 1, self.sampling)  # validates the name
        if not 1 <= self.frames <= 300:
            raise ValueError(f"frames must be in 1..300, got {self.frames}")
        if self.max_per_split is not None and self.max_per_split < 1:
            raise ValueError(f"max_per_split must be >= 1, got {self.max_per_split}")

    def describe(self) -> dict:
        return asdict(self)

    def for_cache(self) -> dict:
        """What a file's crops depend on (not ``max_per_split``, which picks files)."""
        return {"frames": self.frames, "sampling": self.sampling, "crop": asdict(self.crop)}


def default_crop_cache() -> Path:
    """Face crops live here: $DFBENCH_CROP_CACHE, else ~/.cache/dfbench/crops."""
    env = os.environ.get("DFBENCH_CROP_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "dfbench" / "crops"


def check_root(root: str | os.PathLike | None, name: str) -> Path:
    if root is None or str(root) == "":
        raise ConfigError(f"dataset {name!r} needs a data root: --data-root PATH or root = \"...\" in [data]")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise ConfigError(f"dataset {name!r}: data root {path} is not a folder")
    return path


def load_items(name: str, root: Path, items: list[Item], settings: LoadSettings,
               cache_dir: Path | None = None, missing: list[tuple[str, str]] | None = None) -> ImageDataset:
    """Decode, crop and cache ``items`` into an :class:`ImageDataset` (see module doc).

    ``missing`` are skips the layout already found (a label file naming an absent video).
    The dataset is a video dataset when any item is a video; images in it are skipped.
    """
    skipped: list[tuple[str, str]] = list(missing or [])
    # A fixed shuffle, so that the first N of a split (max_per_split, a grid's max_samples) mixes classes.
    items = sorted(items, key=lambda i: hashlib.sha256(str(i.path).encode()).hexdigest())
    video = any(is_video(i.path) for i in items)
    cache = CropCache(cache_dir or default_crop_cache())
    cropper = FaceCropper(settings.crop)
    kept: dict[str, list[tuple[torch.Tensor, Item]]] = {s: [] for s in SPLITS}
    borrowed = 0
    for item in items:
        if settings.max_per_split is not None and len(kept[item.split]) >= settings.max_per_split:
            continue
        try:
            if not _inside(root, item.path):  # a label file naming "../x" or "/x"
                raise MediaError(f"{item.path}: outside the data root {root}")
            crops, n_borrowed = _load_one(item.path, video, settings, cache, cropper)
        except MediaError as exc:
            _warn_once(f"skipped {exc}")
            skipped.append((str(item.path), str(exc)))
            continue
        borrowed += n_borrowed
        kept[item.split].append((crops, item))
    for path, reason in missing or []:
        _warn_once(f"skipped {path}: {reason}")
    empty = [s for s in SPLITS if not kept[s]]
    if empty:
        raise ConfigError(f"dataset {name!r} at {root}: no usable samples in split(s) {', '.join(empty)} "
                          f"({len(items)} listed, {len(skipped)} skipped)")
    sources = sorted({item.source for split in kept.values() for _, item in split})
    source_ids = {s: i for i, s in enumerate(sources)}
    splits = {s: _stack(kept[s], source_ids) for s in SPLITS}
    info = {**settings.describe(), "root": str(root), "modality": "video" if video else "image",
            "skipped": len(skipped), "frames_borrowing_a_face_box": borrowed}
    if skipped:
        reasons = Counter(reason.split(": ", 1)[-1].split(" (")[0] for _, reason in skipped)
        _warn_once(f"{name}: {len(skipped)} file(s) skipped (" +
                   "; ".join(f"{n} x {r}" for r, n in reasons.most_common(3)) + ")")
    _info_once(f"{name} at {root}: {' / '.join(f'{len(kept[s])} {s}' for s in SPLITS)} samples")
    tag = json.dumps({k: v for k, v in info.items() if k not in ("root", "skipped")}, sort_keys=True)
    paths = {s: tuple(str(item.path) for _, item in kept[s]) for s in SPLITS}
    return ImageDataset(name, splits, fingerprint(f"{name}-{tag}", splits), info=info, skipped=tuple(skipped),
                        files=paths)


_said: set[str] = set()  # what this process logged already: a dataset loaded again (training, surrogates) is quiet


def _warn_once(message: str) -> None:
    if message not in _said:
        _said.add(message)
        log.warning("%s", message)


def _info_once(message: str) -> None:
    if message not in _said:
        _said.add(message)
        log.info("%s", message)


def _inside(root: Path, path: Path) -> bool:
    """Lexically under ``root`` (symlinked folders inside a dataset stay allowed)."""
    return Path(os.path.normpath(path)).is_relative_to(os.path.normpath(root))


def _load_one(path: Path, video: bool, settings: LoadSettings, cache: CropCache,
              cropper: FaceCropper) -> tuple[torch.Tensor, int]:
    if not path.is_file():
        raise MediaError(f"{path}: file not found")
    if not os.access(path, os.R_OK):  # not cached: fixing permissions does not change the file's key
        raise MediaError(f"{path}: not readable (permission denied)")
    if video and not is_video(path):
        raise MediaError(f"{path}: an image in a video dataset")
    if not (is_image(path) or is_video(path)):
        raise MediaError(f"{path}: unknown file type {path.suffix!r}")
    key = cache.key(path, settings.for_cache())
    hit = cache.get(key)
    if hit is not None:
        return hit
    try:
        frames = read_video(path, settings.frames, settings.sampling) if video else read_image(path)[None]
        crops, n_borrowed = cropper(frames, str(path))
    except MediaError as exc:
        cache.put_error(key, str(exc))
        raise
    crops = crops if video else crops[0]
    cache.put(key, crops, n_borrowed)
    return crops, n_borrowed


def _stack(samples: list[tuple[torch.Tensor, Item]], source_ids: dict[str, int]) -> Split:
    images = torch.stack([c for c, _ in samples]).float() / 255
    labels = torch.tensor([i.label for _, i in samples], dtype=torch.long)
    sources = torch.tensor([source_ids[i.source] for _, i in samples], dtype=torch.long)
    return Split(images, labels, sources)


def hash_split(source: str, val: float = 0.1, test: float = 0.1) -> str:
    """A stable split for datasets without an official one: by a hash of the source id."""
    u = int(hashlib.sha256(source.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if u < test else "val" if u < test + val else "train"


def register_layout(name: str, default_faces: str = "mtcnn"):
    """Register a layout's ``list_items(root, **params) -> (items, missing)`` as dataset ``name``.

    The dataset takes the layout's own parameters plus the shared ones: ``root``,
    ``image_size`` (crop side), ``frames``, ``sampling``, ``faces``, ``margin``, ``min_face``,
    ``max_per_split`` and ``cache_dir`` (crop cache; default :func:`default_crop_cache`).
    """
    from .base import register_dataset

    def decorator(list_items):
        @register_dataset(name)
        def factory(root: str | None = None, image_size: int = 64, frames: int = 8, sampling: str = "uniform",
                    faces: str = default_faces, margin: float = 0.3, min_face: int = 20,
                    max_per_split: int | None = None, cache_dir: str | None = None, **layout) -> ImageDataset:
            path = check_root(root, name)
            settings = LoadSettings(int(frames), sampling, CropSettings(int(image_size), float(margin), faces,
                                                                        int(min_face)), max_per_split)
            items, missing = list_items(path, **layout)
            if not items:
                raise ConfigError(f"dataset {name!r}: found no {name} samples under {path} "
                                  f"(is this the dataset's own folder layout? see the README)")
            return load_items(name, path, items, settings, Path(cache_dir) if cache_dir else None, missing)

        factory.__doc__ = list_items.__doc__
        shared = [p for p in inspect.signature(factory).parameters.values() if p.kind != p.VAR_KEYWORD]
        own = [p.replace(kind=p.KEYWORD_ONLY) for p in list(inspect.signature(list_items).parameters.values())[1:]]
        factory.__signature__ = inspect.Signature(shared + own)  # grid files are checked against it
        return list_items

    return decorator
