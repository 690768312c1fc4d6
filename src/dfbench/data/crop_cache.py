"""On-disk cache of face crops, keyed by file identity + load settings, so a second run decodes nothing.

A file's identity is its resolved path, size and modification time: an edited or replaced
file gets a new key. Files that could not be used are cached too (their one-line reason),
so a second run does not decode a broken video again. Writes are atomic (temp + rename).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import DfbenchError
from ..safe_files import read_json
from .media import MediaError

log = logging.getLogger(__name__)


class CropCache:
    """``<dir>/<k[:2]>/<k>.safetensors`` (uint8 crops) or ``<k>.error.json`` (why the file was skipped)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def key(self, path: Path, settings: dict) -> str:
        stat = path.stat()
        ident = {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                 "settings": settings, "version": 1}
        return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()

    def _path(self, key: str, suffix: str) -> Path:
        return self.directory / key[:2] / f"{key}{suffix}"

    def get(self, key: str) -> tuple[torch.Tensor, int] | None:
        """The cached crops and borrowed-box count, None on a miss; raises a cached MediaError."""
        error = self._path(key, ".error.json")
        if error.exists():
            try:
                reason = read_json(error, "cached decode error", root=self.directory)["error"]
            except (DfbenchError, KeyError, TypeError):
                reason = None  # a damaged entry is a miss; it is rewritten
            if isinstance(reason, str):
                raise MediaError(reason)
        path = self._path(key, ".safetensors")
        if not path.exists():
            return None
        try:
            tensors = load_file(path)
            return tensors["crops"], int(tensors["borrowed"])
        except (SafetensorError, KeyError, OSError):
            return None  # a damaged cache entry is a miss; it is rewritten

    def put(self, key: str, crops: torch.Tensor, borrowed: int) -> None:
        self._write(self._path(key, ".safetensors"),
                    lambda tmp: save_file({"crops": crops.contiguous(), "borrowed": torch.tensor(borrowed)}, tmp))

    def put_error(self, key: str, error: str) -> None:
        self._write(self._path(key, ".error.json"), lambda tmp: Path(tmp).write_text(json.dumps({"error": error})))

    def _write(self, path: Path, write) -> None:
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            os.close(fd)
            write(tmp)
            os.replace(tmp, path)
        except OSError as exc:  # a read-only or full cache only costs decoding time next run
            log.warning("could not write crop cache %s: %s", path, exc)
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
