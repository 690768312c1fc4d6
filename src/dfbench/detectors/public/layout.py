"""Public checkpoint layouts, declared as data, and the one reader that applies them.

A layout says where a public project's checkpoint keeps its state dict (``nesting``: the dict
keys above it, e.g. ``["model"]`` for SBI, ``["state_dict"]`` for the DFDC winner), which key
prefixes a training wrapper added (``module.`` of DataParallel), which head variants rename a
key (``last_linear.1.`` of a dropout head), and the model's conventions: input size,
normalization, which output means fake, the head, the face crop and the video aggregation.
Files are read with safetensors or ``torch.load(weights_only=True)``: a pickled whole model
is refused, never unpickled.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ...errors import CheckpointError


@dataclass(frozen=True)
class Layout:
    name: str
    project: str  # the public project and paper
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    fake_index: int  # which output means fake
    head: str  # "two logits, softmax" or "one logit, sigmoid"
    root: str  # the prefix every key of the architecture carries in the file ("backbone.", "net.", ...)
    nesting: tuple[str, ...] = ()  # dict keys above the state dict, tried in order
    strip: tuple[str, ...] = ("module.",)  # prefixes a training wrapper adds (DataParallel)
    renames: tuple[tuple[str, str], ...] = ()  # key prefix -> key prefix, for head variants
    face_crop: str = ""
    video: str = ""
    weights: str = ""  # where a user gets them

    def read(self, path: Path) -> dict[str, torch.Tensor]:
        """The state dict in ``path``, unwrapped, prefixes stripped, variants renamed."""
        raw = read_checkpoint(path)
        for key in self.nesting:
            if isinstance(raw, Mapping) and isinstance(raw.get(key), Mapping):
                raw = raw[key]
        if not isinstance(raw, Mapping) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
            top = ", ".join(map(str, list(raw)[:5])) if isinstance(raw, Mapping) else type(raw).__name__
            raise CheckpointError(f"{path} holds no state dict where a {self.name} checkpoint keeps it "
                                  f"({' -> '.join(self.nesting) or 'top level'}; found: {top})")
        state = {}
        for key, value in raw.items():
            for prefix in self.strip:
                key = key.removeprefix(prefix)
            for old, new in self.renames:
                if key.startswith(old):
                    key = new + key[len(old):]
            state[key] = value
        return state


def read_checkpoint(path: Path) -> Any:
    """A safetensors file, or a ``.pt``/``.pth``/``.p``/``.tar`` read with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path))
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # weights_only refuses code objects: a pickled whole model
        raise CheckpointError(f"checkpoint {path} could not be read: it is a pickled Python object (a whole model?), "
                              "not a state dict, and dfbench never unpickles it (that would run its code); save its "
                              "state_dict() as safetensors in the project's own environment "
                              f"({str(exc).splitlines()[0][:100]})") from None
    except (SafetensorError, OSError, RuntimeError, ValueError, EOFError) as exc:
        raise CheckpointError(f"checkpoint {path} could not be read: {str(exc).splitlines()[0]}") from None


def key_diff(expected: set[str], found: set[str], limit: int = 5) -> str:
    """``missing: a, b (+3); unexpected: c``: a short diff of two key sets."""
    parts = []
    for label, keys in (("missing", sorted(expected - found)), ("unexpected", sorted(found - expected))):
        if keys:
            more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
            parts.append(f"{label}: {', '.join(keys[:limit])}{more}")
    return "; ".join(parts)


LAYOUTS: dict[str, Layout] = {}


def declare(layout: Layout) -> Layout:
    LAYOUTS[layout.name] = layout
    return layout


def looks_like(keys: set[str], expected_root: str) -> str:
    """The declared layout whose key root most of ``keys`` share, as a hint, or ''."""
    best = max(LAYOUTS.values(), key=lambda lay: sum(k.startswith(lay.root) for k in keys), default=None)
    if best is None or best.root == expected_root or not any(k.startswith(best.root) for k in keys):
        return ""
    return f" (it looks like a {best.name} checkpoint: keys under {best.root!r})"
