"""The DeepFake Detection Challenge training set (Dolhansky et al. 2020) in its own layout.

::

    ROOT/dfdc_train_part_0/metadata.json   # {"aaqaifqrwn.mp4": {"label": "FAKE", "original": "...mp4"}, ...}
    ROOT/dfdc_train_part_0/aaqaifqrwn.mp4

(or ``metadata.json`` directly in ROOT). The challenge's public parts carry no split, so a
real video and every fake made from it go to one split by a hash of the real's name
(80/10/10). Labels other than REAL/FAKE and videos the metadata names but the disk lacks are
skipped and counted.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import ConfigError, DfbenchError
from ...safe_files import MAX_LISTING_BYTES, read_json
from ..files import Item, hash_split, register_layout


@register_layout("dfdc")
def dfdc(root: Path) -> tuple[list[Item], list[tuple[str, str]]]:
    """DFDC parts under ROOT, labels from each part's metadata.json (see module doc)."""
    top = [root / "metadata.json"] if (root / "metadata.json").is_file() else []
    files = sorted(root.glob("*/metadata.json")) + top
    if not files:
        raise ConfigError(f"DFDC: no metadata.json in {root} or its part folders (dfdc_train_part_N/)")
    items, missing = [], []
    for meta in files:
        try:
            entries = read_json(meta, "DFDC metadata", MAX_LISTING_BYTES)
            if not isinstance(entries, dict):
                raise ValueError("not a JSON object")
        except (DfbenchError, ValueError) as exc:
            raise ConfigError(f"DFDC: {meta} is not readable metadata ({exc})") from None
        for name, info in entries.items():
            path = meta.parent / name
            label = str(info.get("label", "")).upper() if isinstance(info, dict) else ""
            if label not in ("REAL", "FAKE"):
                missing.append((str(path), f"label {label or 'missing'!r} in {meta.name} is not REAL or FAKE"))
                continue
            if not path.is_file():
                missing.append((str(path), f"named in {meta} but not found"))
                continue
            source = name if label == "REAL" else str(info.get("original") or name)
            items.append(Item(path, int(label == "FAKE"), hash_split(source), source))
    return items, missing
