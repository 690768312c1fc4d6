"""FaceForensics++ (Rössler et al., ICCV 2019) in the layout its download script writes.

::

    ROOT/original_sequences/youtube/<c23|c40|raw>/videos/071.mp4
    ROOT/manipulated_sequences/<Deepfakes|Face2Face|FaceSwap|NeuralTextures|FaceShifter>/<c>/videos/071_054.mp4
    ROOT/splits/{train,val,test}.json   # the official splits: [["071", "054"], ...]

The split files are not part of the download; copy them from the FaceForensics repository
(``dataset/splits``). A pair's two originals and the fakes made from them share a split and a
source. Every video the splits name but the disk lacks is skipped and counted.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import ConfigError, DfbenchError
from ...safe_files import read_json
from ..files import Item, register_layout

MANIPULATIONS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter")
COMPRESSIONS = ("raw", "c23", "c40")
SPLIT_FILES = {"train": "train.json", "val": "val.json", "test": "test.json"}


def _pairs(root: Path) -> dict[str, list[tuple[str, str]]]:
    pairs = {}
    for split, name in SPLIT_FILES.items():
        path = root / "splits" / name
        if not (path.exists() or path.is_symlink()):
            raise ConfigError(f"FaceForensics++: {path} not found; copy dataset/splits/*.json from the "
                              "FaceForensics repository into ROOT/splits")
        try:
            pairs[split] = [(str(a), str(b)) for a, b in read_json(path, "FaceForensics++ split")]
        except (DfbenchError, ValueError, TypeError) as exc:
            raise ConfigError(f"FaceForensics++: {path} is not a list of id pairs ({exc})") from None
    return pairs


@register_layout("ffpp")
def ffpp(root: Path, compression: str = "c23",
         manipulations: list[str] | None = None) -> tuple[list[Item], list[tuple[str, str]]]:
    """FaceForensics++ videos at ``compression`` with the official splits (see module doc).

    ``manipulations``: the methods to use as fakes [default: every method folder present].
    """
    if compression not in COMPRESSIONS:
        raise ConfigError(f"FaceForensics++: compression must be one of {', '.join(COMPRESSIONS)}, got {compression!r}")
    originals = root / "original_sequences" / "youtube" / compression / "videos"
    if manipulations is None:
        manipulations = [m for m in MANIPULATIONS if (root / "manipulated_sequences" / m / compression).is_dir()]
        if not manipulations:
            raise ConfigError(f"FaceForensics++: no method folder ({', '.join(MANIPULATIONS)}) under "
                              f"{root / 'manipulated_sequences'} at {compression}")
    folders = {m: root / "manipulated_sequences" / m / compression / "videos" for m in manipulations}
    for path in [originals, *folders.values()]:
        if not path.is_dir():
            raise ConfigError(f"FaceForensics++: {path} not found (wrong layout or compression?)")
    items, missing = [], []

    def add(path: Path, label: int, split: str, source: str) -> None:
        if path.is_file():
            items.append(Item(path, label, split, source))
        else:
            missing.append((str(path), "named in the official splits but not found"))

    for split, pairs in _pairs(root).items():
        for a, b in pairs:
            source = "_".join(sorted((a, b)))
            add(originals / f"{a}.mp4", 0, split, source)
            add(originals / f"{b}.mp4", 0, split, source)
            for folder in folders.values():
                add(folder / f"{a}_{b}.mp4", 1, split, source)
                add(folder / f"{b}_{a}.mp4", 1, split, source)
    return items, missing
