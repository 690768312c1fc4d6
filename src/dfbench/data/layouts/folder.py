"""A generic folder of real and fake images or videos.

::

    ROOT/real/**/*.{jpg,png,mp4,...}   ROOT/fake/**/*                 (split by a hash of the file name, 80/10/10)
    ROOT/{train,val,test}/real/**      ROOT/{train,val,test}/fake/**  (the given splits)
"""

from __future__ import annotations

from pathlib import Path

from ...errors import ConfigError
from ..files import Item, hash_split, register_layout


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


@register_layout("folder")
def folder(root: Path) -> tuple[list[Item], list[tuple[str, str]]]:
    """Files under ROOT/real and ROOT/fake, optionally inside train/val/test folders (see module doc)."""
    items = []
    if all((root / s).is_dir() for s in ("train", "val", "test")):
        for split in ("train", "val", "test"):
            for label, name in ((0, "real"), (1, "fake")):
                items += [Item(p, label, split, str(p.relative_to(root))) for p in _files(root / split / name)]
    elif (root / "real").is_dir() and (root / "fake").is_dir():
        for label, name in ((0, "real"), (1, "fake")):
            items += [Item(p, label, hash_split(p.stem), p.stem) for p in _files(root / name)]
    else:
        raise ConfigError(f"folder dataset: {root} has neither real/ and fake/ nor train/ val/ test/ folders")
    return items, []
