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
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ...errors import CheckpointError


class Head(StrEnum):
    """What the project's network outputs (its decision is the softmax's or the sigmoid's)."""

    TWO_LOGITS = "two logits, softmax"
    ONE_LOGIT = "one logit, sigmoid"


@dataclass(frozen=True)
class Release:
    """A file the project publishes: its name, and its sha256 where the project gives one."""

    file: str
    sha256: str = ""


@dataclass(frozen=True)
class Layout:
    name: str
    project: str  # the public project and paper (authors, venue)
    input_size: int  # the side the project feeds its network
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    fake_index: int  # which output means fake
    head: Head
    root: str  # the prefix every key of the architecture carries in the file ("backbone.", "net.", ...)
    nesting: tuple[str, ...] = ()  # dict keys above the state dict, tried in order
    strip: tuple[str, ...] = ("module.",)  # prefixes a training wrapper adds (DataParallel)
    renames: tuple[tuple[str, str], ...] = ()  # key prefix -> key prefix, for head variants
    face_crop: str = ""
    video: str = ""
    weights: str = ""  # where a user gets them
    architecture: str = ""
    trained_on: str = ""
    preprocessing: str = ""  # resize / crop before normalization, as the project's evaluation does it
    releases: tuple[Release, ...] = ()  # the released files (dfbench run --weights-dir finds them by name)
    reported: tuple[tuple[str, float], ...] = ()  # the paper's clean numbers: ("FF++ c23 frame AUC", 0.9637)
    signature: tuple[tuple[str, tuple[int, ...]], ...] = ()  # keys and shapes that only this layout has
    companions: tuple[tuple[str, str], ...] = ()  # (key prefix, file name): keys that may sit in a file beside
    fixed_size: bool = False  # the network runs at input_size only (a flatten or a DCT sized to it)

    def read(self, path: Path) -> dict[str, torch.Tensor]:
        """The state dict in ``path``, unwrapped, prefixes stripped, variants renamed, with the keys of a
        companion file beside it (UnivFD's ``fc_weights.pth``) where ``path`` lacks them."""
        return self.read_sources(path)[0]

    def read_sources(self, path: Path) -> tuple[dict[str, torch.Tensor], list[Path]]:
        """:meth:`read`, and the companion files it read (their bytes belong to the weights' digest)."""
        state, used = self.unwrap(read_checkpoint(path), path), []
        for prefix, file in self.companions:
            beside = Path(path).with_name(file)
            if not any(k.startswith(prefix) for k in state) and beside.is_file():
                extra = read_checkpoint(beside)
                if isinstance(extra, Mapping) and all(isinstance(v, torch.Tensor) for v in extra.values()):
                    state.update({prefix + str(k): v for k, v in extra.items()})
                    used.append(beside)
        return state, used

    def unwrap(self, raw: Any, path: Path) -> dict[str, torch.Tensor]:
        """The state dict inside a checkpoint's contents ``raw``, prefixes stripped, variants renamed."""
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
        if zipfile.is_zipfile(path) and _torchscript(path):
            raise CheckpointError(f"checkpoint {path} is a TorchScript archive (OpenAI's CLIP releases are): its code "
                                  "would run, so dfbench never loads it; convert it once to safetensors in your own "
                                  "environment (docs: the univfd_clip_vitl14 layout)")
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # weights_only refuses code objects: a pickled whole model
        raise CheckpointError(f"checkpoint {path} could not be read: it is a pickled Python object (a whole model?), "
                              "not a state dict, and dfbench never unpickles it (that would run its code); save its "
                              "state_dict() as safetensors in the project's own environment "
                              f"({str(exc).splitlines()[0][:100]})") from None
    except CheckpointError:
        raise
    except (SafetensorError, OSError, RuntimeError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"checkpoint {path} could not be read: {str(exc).splitlines()[0]}") from None


def _torchscript(path: Path) -> bool:
    """A TorchScript archive: a torch zip with ``constants.pkl`` (and its code) beside the data."""
    with zipfile.ZipFile(path) as archive:
        return any(n.endswith("constants.pkl") for n in archive.namelist())


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


def signature_matches(state: Mapping[str, Any], exclude: str = "") -> list[Layout]:
    """The declared layouts (other than ``exclude``) whose signature keys ``state`` has, at those shapes."""
    shapes = {k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)}
    return [lay for lay in LAYOUTS.values() if lay.name != exclude and lay.signature
            and all(shapes.get(k) == shape for k, shape in lay.signature)]


def looks_like(state: Mapping[str, Any], expected: str = "") -> str:
    """`` (it looks like a X checkpoint)`` when ``state`` has another declared layout's signature, or ''."""
    others = signature_matches(state, expected)
    return f" (it looks like a {' or '.join(lay.name for lay in others)} checkpoint)" if others else ""
