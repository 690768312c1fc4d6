"""manifest.json of a folder of adversarial files (manifest.schema.json): read, checked, written.

A manifest names the clean set (dataset, split, image size) and, per file, the clean sample it
replaces, the attack, its norm and budget; dfbench's export adds the view it was crafted on, the
L-inf and L2 distance of the saved file to the clean sample and the file's sha256. Every path
must stay inside the folder: a manifest that names a file elsewhere is refused whole.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from ..errors import DfbenchError
from ..safe_files import parse_json, read_bytes

NAME = "manifest.json"
MAX_MANIFEST_BYTES = 256 << 20


@cache
def schema() -> dict:
    return json.loads((Path(__file__).parent / "manifest.schema.json").read_text())


PATH_PARAMS = ("root", "cache_dir")  # where data lies on this machine: from --data-root, never from a manifest
DATA_KEYS = ("dataset", "image_size", "split", "max_samples")  # the manifest's own fields


def read_manifest(folder: Path) -> dict:
    """The folder's checked manifest; a one-line DfbenchError names the first problem."""
    return load_manifest(folder)[0]


def load_manifest(folder: Path) -> tuple[dict, str]:
    """The folder's checked manifest and the sha256 of its bytes (read once, bounded)."""
    path = Path(folder) / NAME
    data = read_bytes(path, "manifest", MAX_MANIFEST_BYTES, root=Path(folder))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise DfbenchError(f"{path} is not UTF-8 text") from None
    doc = parse_json(text, f"manifest {path}")
    try:
        jsonschema.validate(doc, schema())
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise DfbenchError(f"{path}: does not match the manifest schema at {where}: {exc.message[:300]}") from None
    refused = sorted(set(doc["dataset"].get("params", {})) & {*PATH_PARAMS, *DATA_KEYS})
    if refused:
        raise DfbenchError(f"{path}: dataset params may not set {', '.join(refused)} (paths come from --data-root; "
                           "split and size are the dataset's own fields)")
    root = Path(folder).resolve()
    for i, item in enumerate(doc["files"]):
        if type(item["sample"]) is not int or type(item.get("label", 0)) is not int:
            raise DfbenchError(f"{path}: files[{i}]: sample and label must be integers, got sample "
                               f"{item['sample']!r}, label {item.get('label')!r}")
        name = Path(item["file"])
        try:
            inside = (root / name).resolve()
        except (ValueError, OSError, RuntimeError) as exc:  # a NUL byte, a link loop
            raise DfbenchError(f"{path}: files[{i}] {item['file']!r} is not a usable path ({exc})") from None
        if name.is_absolute() or not inside.is_relative_to(root) or inside == root:
            raise DfbenchError(f"{path}: files[{i}] {item['file']!r} is outside the folder {folder}; nothing is read")
    files = [item["file"] for item in doc["files"]]
    if len(set(files)) != len(files):
        raise DfbenchError(f"{path}: a file is listed twice")
    return doc, hashlib.sha256(data).hexdigest()


def write_manifest(folder: Path, made_by: str, dataset: dict[str, Any], files: list[dict[str, Any]]) -> Path:
    """Write (and check against the schema) the manifest of ``folder``."""
    doc = {"format": "dfbench-adversarial-files", "version": 1, "made_by": made_by, "dataset": dataset,
           "files": files}
    jsonschema.validate(doc, schema())
    path = Path(folder) / NAME
    path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return path
