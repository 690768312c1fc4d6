"""The fingerprint of a detector's code and constructor arguments: what ties a trained checkpoint
to the code that made it.

The digest covers the source of every module that defines a class of the detector (its own class,
its base classes and the class of every submodule, e.g. an LSTM helper in another file) except
torch's own (fixed by the installed version), and the constructor arguments. Editing the
normalization in a detector's file, or changing its widths, changes the fingerprint, so a cached
checkpoint of the old code is trained again instead of silently reused.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import sys
from typing import Any

from torch import nn

log = logging.getLogger(__name__)
FRAMEWORK = ("torch", "builtins")  # modules whose source is fixed by the installed package version


def _module_sources(detector: nn.Module) -> dict[str, str]:
    classes = {cls for m in detector.modules() for cls in type(m).__mro__}
    names = sorted({c.__module__ for c in classes if c.__module__.split(".")[0] not in FRAMEWORK})
    sources = {}
    for name in names:
        module = sys.modules.get(name)
        try:
            sources[name] = inspect.getsource(module) if module is not None else ""
        except (OSError, TypeError):  # defined in a REPL or a notebook: no file to hash
            log.debug("no source for module %s; its classes' names stand for it", name)
            sources[name] = ",".join(sorted(c.__qualname__ for c in classes if c.__module__ == name))
    return sources


def code_fingerprint(detector: nn.Module, arguments: dict[str, Any] | None = None) -> str:
    """sha256 (hex) of the source of the detector's modules and its constructor ``arguments``."""
    payload = json.dumps({"sources": _module_sources(detector), "arguments": arguments or {}}, sort_keys=True,
                         default=repr)
    return hashlib.sha256(payload.encode()).hexdigest()
