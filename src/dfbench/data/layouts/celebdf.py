"""Celeb-DF v2 (Li et al., CVPR 2020) in its own layout.

::

    ROOT/Celeb-real/id0_0000.mp4
    ROOT/Celeb-synthesis/id0_id16_0000.mp4
    ROOT/YouTube-real/00000.mp4
    ROOT/List_of_testing_videos.txt     # "<1 real | 0 fake> <folder>/<file>.mp4" per line

The listed videos are the test split (with the file's labels); the rest are split into
train/val by the identity of the target video (90/10), so one identity never straddles the two.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import ConfigError
from ...safe_files import MAX_LISTING_BYTES, read_text
from ..files import Item, hash_split, register_layout

FOLDERS = {"Celeb-real": 0, "YouTube-real": 0, "Celeb-synthesis": 1}
TEST_LIST = "List_of_testing_videos.txt"


def _identity(rel: str) -> str:
    folder, name = rel.split("/", 1)
    return f"yt{Path(name).stem}" if folder == "YouTube-real" else name.split("_")[0]


@register_layout("celebdf")
def celebdf(root: Path) -> tuple[list[Item], list[tuple[str, str]]]:
    """Celeb-DF v2 with the official test list (see module doc)."""
    listing = root / TEST_LIST
    if not (listing.exists() or listing.is_symlink()):
        raise ConfigError(f"Celeb-DF: {listing} not found (is ROOT the Celeb-DF-v2 folder?)")
    items, missing, test = [], [], set()
    for n, line in enumerate(read_text(listing, "Celeb-DF test list", MAX_LISTING_BYTES).splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or parts[0] not in ("0", "1") or parts[1].split("/", 1)[0] not in FOLDERS:
            missing.append((f"{listing}:{n}", f"line {line.strip()!r} is not '<0|1> <folder>/<file>'"))
            continue
        rel = parts[1]
        test.add(rel)
        path = root / rel
        if not path.is_file():
            missing.append((str(path), f"named in {TEST_LIST} but not found"))
            continue
        items.append(Item(path, 1 - int(parts[0]), "test", _identity(rel)))  # the list says 1 for real
    for folder, label in FOLDERS.items():
        for path in sorted((root / folder).glob("*.mp4")):
            rel = f"{folder}/{path.name}"
            if rel not in test:
                identity = _identity(rel)
                items.append(Item(path, label, hash_split(identity, val=0.1, test=0.0), identity))
    return items, missing
