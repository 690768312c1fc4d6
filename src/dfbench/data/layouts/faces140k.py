"""The 140k real and fake faces set (Kaggle; FFHQ reals and StyleGAN fakes) in its own layout.

::

    ROOT/train.csv, ROOT/valid.csv, ROOT/test.csv       # columns include label_str (real|fake) and path
    ROOT/real_vs_fake/real-vs-fake/train/real/00001.jpg  # `path` is relative to real-vs-fake/

The images are already aligned faces, so this dataset resizes whole images (``faces = "none"``)
unless told otherwise. Rows naming missing files or unknown labels are skipped and counted.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ...errors import ConfigError, DfbenchError
from ...safe_files import MAX_LISTING_BYTES, read_text
from ..files import Item, register_layout

CSV_SPLITS = {"train": "train.csv", "val": "valid.csv", "test": "test.csv"}


@register_layout("faces140k", default_faces="none")
def faces140k(root: Path) -> tuple[list[Item], list[tuple[str, str]]]:
    """The CSV splits of the 140k real-vs-fake set (see module doc)."""
    images = root / "real_vs_fake" / "real-vs-fake"
    base = images if images.is_dir() else root
    items, missing = [], []
    for split, name in CSV_SPLITS.items():
        table = root / name
        if not (table.exists() or table.is_symlink()):
            raise ConfigError(f"140k faces: {table} not found (is ROOT the folder with train.csv?)")
        try:
            text = read_text(table, "140k faces CSV", MAX_LISTING_BYTES)
            reader = csv.DictReader(io.StringIO(text, newline=""))
            if not {"label_str", "path"} <= set(reader.fieldnames or ()):
                raise ConfigError(f"140k faces: {table} lacks the columns label_str and path")
            rows = list(enumerate(reader, 2))
        except ConfigError:
            raise
        except (DfbenchError, csv.Error) as exc:
            raise ConfigError(f"140k faces: {table} is not a readable CSV ({exc})") from None
        for n, row in rows:
            label = (row.get("label_str") or "").strip().lower()
            path = base / (row.get("path") or "").strip()
            if label not in ("real", "fake"):
                missing.append((f"{table}:{n}", f"label_str {label!r} is not real or fake"))
            elif not path.is_file():
                missing.append((str(path), f"named in {name} but not found"))
            else:
                items.append(Item(path, int(label == "fake"), split, str(row["path"])))
    return items, missing
