"""The zoo: every declared public layout as data (layout.py), what a file or folder is, and where a
folder of downloaded weights has each one.

- :func:`identify`: which layout a checkpoint file (or a Hugging Face folder) has, from its keys and
  shapes alone (``Layout.signature``), never from its name; nothing is unpickled.
- :func:`find_weights`: the zoo detectors whose weights lie in a folder, by released file name,
  else by identity (a file named otherwise), each file used once.
- :func:`markdown_table`: docs/zoo.md's layout table, generated from the declarations.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from ...errors import CheckpointError, DfbenchError
from .layout import LAYOUTS, Head, Layout, read_checkpoint, signature_matches

log = logging.getLogger(__name__)
WEIGHT_SUFFIXES = (".pth", ".pt", ".tar", ".safetensors", ".ckpt", ".bin")  # and none: the DFDC winner's files


def identify(path: Path) -> tuple[list[Layout], str]:
    """(layouts the file's keys and shapes fit, one line saying what it is). A file of no declared layout
    gives ``[]`` and its top-level keys; a Hugging Face folder gives ``[]`` and its architecture."""
    path = Path(path)
    if path.is_dir():
        from ..hf.detector import describe

        return [], f"{describe(path)}: load it as hf:{path}"
    raw = read_checkpoint(path)  # a pickle or a TorchScript archive: a one-line CheckpointError, nothing run
    found: dict[str, Layout] = {}
    for layout in LAYOUTS.values():
        try:
            state = layout.unwrap(raw, path)
        except CheckpointError:
            continue
        for match in signature_matches(state):
            if match.name == layout.name:
                found[layout.name] = layout
    if found:
        names = " or ".join(found)
        same = " (the same keys and shapes: the file cannot tell them apart)" if len(found) > 1 else ""
        return list(found.values()), f"{names}{same}"
    keys = list(raw)[:6] if isinstance(raw, dict) else []
    return [], f"no declared layout (top-level keys: {', '.join(map(str, keys)) or type(raw).__name__})"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_release(layout: Layout, path: Path, digest: str | None = None) -> None:
    """Warn when ``path`` bears the name of one of ``layout``'s releases whose published sha256 differs
    (``digest``: the file's sha256, when the caller has it)."""
    for release in layout.releases:
        if release.sha256 and release.file == path.name and (digest or sha256_file(path)) != release.sha256:
            log.warning("%s: named like %s's release %s but its sha256 differs from the published one "
                        "(another version, or a damaged download)", path, layout.name, release.file)


@dataclass(frozen=True)
class Found:
    layout: Layout
    path: Path
    how: str  # "file name" or "keys and shapes"


def find_weights(folder: Path) -> tuple[list[Found], list[str]]:
    """(zoo detectors whose weights are in ``folder``, one line per declared layout not found). A file whose
    name is a release's is that layout's (checked when loaded); another file is identified by its keys."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DfbenchError(f"--weights-dir {folder} is not a folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES + ("",))
    found: dict[str, Found] = {}
    used: set[Path] = set()
    for layout in LAYOUTS.values():
        for release in layout.releases:
            path = folder / release.file
            if path in files and path not in used and layout.name not in found:
                try:
                    fits = layout in identify(path)[0]
                except CheckpointError:
                    fits = False  # a pickled model or an archive under a release's name: skipped, said below
                if fits:
                    check_release(layout, path)
                    found[layout.name] = Found(layout, path, "file name")
                    used.add(path)
    for path in files:
        if path in used:
            continue
        try:
            layouts, _ = identify(path)
        except CheckpointError as exc:
            log.warning("%s skipped: %s", path.name, exc)
            continue
        if len(layouts) == 1 and layouts[0].name not in found:  # one signature of two layouts (Xception and
            found[layouts[0].name] = Found(layouts[0], path, "keys and shapes")  # CORE) needs the released name
            used.add(path)
    missing = [f"{lay.name}: not in {folder} (expected {' or '.join(r.file for r in lay.releases) or 'a file'}; "
               f"{lay.weights})" for lay in LAYOUTS.values() if lay.name not in found]
    return sorted(found.values(), key=lambda f: f.layout.name), missing


def markdown_table() -> str:
    """One row per declared layout: docs/zoo.md's table, generated here (a test keeps the two equal)."""
    rows = ["| name | project | architecture | trained on | input | preprocessing | output | released files | "
            "reported (paper) |", "|---|---|---|---|---|---|---|---|---|"]
    for lay in sorted(LAYOUTS.values(), key=lambda lay: lay.name):
        output = f"{'sigmoid' if lay.head == Head.ONE_LOGIT else 'softmax'}; fake = {lay.fake_index}"
        files = ", ".join(f"`{r.file}`" for r in lay.releases) or "-"
        reported = "; ".join(f"{what} {value:.4f}" for what, value in lay.reported) or "-"
        rows.append(f"| `{lay.name}` | {lay.project} | {lay.architecture} | {lay.trained_on} | {lay.input_size} | "
                    f"{lay.preprocessing} | {output} | {files} | {reported} |")
    return "\n".join(rows)
