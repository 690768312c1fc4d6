"""Bounded reads of the files dfbench reads whole, and the marks on the folders it writes.

Reads (grids, cards, entries, baselines, label and metadata files): the path is resolved
(links followed), must stay inside ``root`` where a caller confines it (an entry in its
leaderboard: a pull request may carry a link to anywhere), must be a regular file (not ``/dev/zero``, a FIFO or
a folder) and at most ``limit`` bytes; JSON and TOML are parsed with non-finite numbers, huge
integers and deep nesting refused (validate.check_tree). Every failure is one DfbenchError
naming the file.

Writes: a folder dfbench fills and later replaces (the checkpoint cache, a leaderboard site)
carries a marker file; a folder that exists without it and holds anything else is refused
untouched (see :func:`claim_folder`).
"""

from __future__ import annotations

import json
import math
import os
import stat
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import ConfigError, DfbenchError
from .validate import check_tree

MAX_BYTES = 16 << 20  # a grid, card, entry or baseline is a few kB; a label file of 1M videos is ~50 MB
MAX_LISTING_BYTES = 256 << 20


def read_bytes(path: str | Path, what: str, limit: int = MAX_BYTES, root: Path | None = None) -> bytes:
    """The bytes of the regular file ``path`` (at most ``limit``), confined to ``root`` if given."""
    path = Path(path)
    try:
        resolved = path.resolve(strict=True)
    except FileNotFoundError:
        raise DfbenchError(f"{what} {path} does not exist") from None
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        raise DfbenchError(f"cannot read {what} {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if root is not None and not resolved.is_relative_to(Path(root).resolve()):
        raise DfbenchError(f"{what} {path} leads outside {root} (to {resolved}); it is not read")
    try:  # stat first and open without blocking: opening a FIFO would wait for a writer forever
        if not stat.S_ISREG(os.stat(resolved).st_mode):
            raise DfbenchError(f"{what} {path} is not a regular file")
        with os.fdopen(os.open(resolved, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):  # swapped between the two looks
                raise DfbenchError(f"{what} {path} is not a regular file")
            if info.st_size > limit:
                raise DfbenchError(f"{what} {path} is {info.st_size} bytes, more than the {limit} allowed")
            data = f.read(limit + 1)
    except OSError as exc:
        raise DfbenchError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise DfbenchError(f"{what} {path} is more than the {limit} bytes allowed")
    return data


def read_text(path: str | Path, what: str, limit: int = MAX_BYTES, root: Path | None = None) -> str:
    data = read_bytes(path, what, limit, root)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DfbenchError(f"{what} {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _nan_only(name: str) -> float:
    if name == "NaN":
        return math.nan
    return _refuse_constant(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is beyond the range of a number")
    return value


def parse_json(text: str, what: str, nan_ok: bool = False) -> Any:
    """JSON as the standard defines it: NaN, Infinity and overflowing numbers are errors, and so is
    nesting past validate.MAX_DEPTH. ``nan_ok``: ``NaN`` reads as an undefined number (checkpoint
    cards of older dfbench versions wrote an undefined metric so)."""
    try:
        doc = json.loads(text, parse_constant=_nan_only if nan_ok else _refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise DfbenchError(f"{what} is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, NaN, int beyond Python's digit limit
        raise DfbenchError(f"{what} is not valid JSON: {exc}") from None
    _checked(doc, what, nan_ok)
    return doc


def read_json(path: str | Path, what: str, limit: int = MAX_BYTES, root: Path | None = None,
              nan_ok: bool = False) -> Any:
    return parse_json(read_text(path, what, limit, root), f"{what} {path}", nan_ok)


def read_toml(path: str | Path, what: str, limit: int = MAX_BYTES) -> tuple[dict, bytes]:
    """The parsed TOML document and its bytes."""
    raw = read_bytes(path, what, limit)
    try:
        doc = tomllib.loads(raw.decode("utf-8-sig"))  # a byte-order mark (some Windows editors write one) is skipped
    except RecursionError:
        raise DfbenchError(f"{what} {path} is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:  # TOMLDecodeError, or an int past 4300 digits
        raise DfbenchError(f"{what} {path} is not valid TOML: {exc}") from None
    _checked(doc, f"{what} {path}")
    return doc, raw


def _checked(doc: Any, where: str, nan_ok: bool = False) -> None:
    try:
        check_tree(doc, where, nan_ok=nan_ok)
    except ConfigError as exc:
        raise DfbenchError(str(exc)) from None


def file_to_write(path: Path, what: str) -> Path:
    """``path`` where a file will be written, checked before any work: not a folder or a device, in
    a folder (or where one can be made)."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise DfbenchError(f"{what} {path} is a folder or a device, not a file")
    return _under_a_folder(path, what)


def folder_to_write(path: Path, what: str) -> Path:
    """``path`` where a folder will be written: not an existing file."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise DfbenchError(f"{what} {path} is a file, not a folder")
    return _under_a_folder(path, what)


def _under_a_folder(path: Path, what: str) -> Path:
    """``path``, if its nearest existing ancestor is a folder (where the rest can be made)."""
    parent = next((p for p in path.absolute().parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise DfbenchError(f"{what} {path}: {parent} is a file, not a folder")
    return path


def claim_folder(folder: Path, marker: str, what: str, ours: Callable[[Path], bool] = lambda p: False) -> None:
    """Make ``folder`` dfbench's to write in: create it with ``marker`` inside, or accept it when it
    has the marker, is empty, or holds only what ``ours`` recognizes as dfbench's (a folder written
    before markers existed; it gets the marker). Anything else is refused untouched."""
    folder = Path(folder)
    try:
        if folder.exists() and not folder.is_dir():
            raise DfbenchError(f"{what} {folder} is not a folder")
        if not (folder / marker).is_file():
            foreign = sorted(p.name for p in folder.iterdir() if not ours(p)) if folder.exists() else []
            if foreign:
                raise DfbenchError(f"{what} {folder} was not made by dfbench (it holds {', '.join(foreign[:3])}"
                                   f"{', ...' if len(foreign) > 3 else ''}); give an empty or new folder")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / marker).write_text("made by dfbench; it may rewrite what is in this folder\n")
    except OSError as exc:
        raise DfbenchError(f"cannot write {what} {folder}: {exc.strerror or exc}") from None
