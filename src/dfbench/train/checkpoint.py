"""Checkpoints: safetensors weights plus a small JSON card, and the trained-on-first-use cache.

No pickle anywhere: weights are safetensors (a ``.pt``/``.pth`` file is read with
``torch.load(weights_only=True)``), cards are JSON.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file

from .. import __version__
from ..detectors.base import Detector
from ..detectors.public.layout import LAYOUTS, Layout, key_diff, looks_like, read_checkpoint
from ..detectors.public.zoo import check_release
from ..errors import CheckpointError, DfbenchError
from ..safe_files import claim_folder, read_json
from ..validate import integer, real

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Card:
    """What a checkpoint is: enough provenance to trust or reproduce it."""

    detector: str
    dataset: str
    dataset_fingerprint: str
    input_size: tuple[int, int]
    seed: int
    epochs_run: int
    best_epoch: int
    threshold: float
    val: dict[str, float]
    sha256: str
    dfbench_version: str = __version__
    training: str = ""  # a training-time defense, e.g. "pgd-at(eps=0.0314, ratio=0.5, steps=7)"
    code_fingerprint: str = ""  # the detector's code and arguments (detectors.fingerprint); "" on older cards
    restarts: int = 0  # trainings begun again from fresh weights after a dead network; 0 on older cards


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_checkpoint(detector: Detector, path: Path, card_fields: dict) -> Card:
    """Write ``path`` (safetensors) and ``path.with_suffix('.json')`` atomically."""
    state = {k: v.detach().cpu().contiguous() for k, v in detector.state_dict().items()}
    _atomic_write(path, lambda tmp: save_file(state, tmp))
    card = Card(sha256=sha256_file(path), **card_fields)
    fields = asdict(card)
    fields["val"] = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in card.val.items()}
    _atomic_write(card_path(path), lambda tmp: Path(tmp).write_text(json.dumps(fields, indent=2, allow_nan=False)))
    return card


def card_path(path: Path) -> Path:
    return path.with_suffix(".json")


def read_card(path: Path) -> Card | None:
    """The card next to a weights file, or None when there is none."""
    cp = card_path(path)
    if not cp.exists():
        return None
    try:
        data = read_json(cp, "checkpoint card", nan_ok=True)
        if not isinstance(data, dict):
            raise TypeError("not a JSON object")
        card = Card(**{**data, "input_size": tuple(data["input_size"])})
        real(card.threshold, "threshold")  # a NaN or infinite threshold would score every sample one way
        for key in ("seed", "epochs_run", "best_epoch", "restarts"):
            integer(getattr(card, key), key, lo=0)
        for size in card.input_size:
            integer(size, "input_size", lo=1, hi=1 << 16)
        for key, value in card.val.items():  # None (or NaN, in older cards): undefined, e.g. AUC of one class
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                real(value, f"val.{key}")
        return card
    except (DfbenchError, TypeError, KeyError, AttributeError) as exc:
        message = str(exc).removeprefix(f"checkpoint card {cp} ")
        raise CheckpointError(f"checkpoint card {cp} is malformed: {message}") from None


def load_weights(detector: Detector, path: Path) -> str:
    """Load weights into ``detector`` (strictly) and return the file's sha256.

    Raises CheckpointError for a missing, unreadable, tampered or mismatched file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    digest = sha256_file(path)
    card = read_card(path)
    if card is not None and card.sha256 != digest:
        raise CheckpointError(f"checkpoint {path} does not match the sha256 in its card (file changed?)")
    layout = getattr(detector, "layout", None)  # a public project's checkpoint (detectors/public)
    if layout is not None:
        check_release(layout, path, digest)
    state, companions = layout.read_sources(path) if layout is not None else (read_checkpoint(path), [])
    digest = with_companions(digest, companions)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"checkpoint {path} does not hold a state dict")
    expected, found = set(detector.state_dict()), set(state)
    if expected != found:
        hint = looks_like(state, layout.name if layout is not None else "")
        raise CheckpointError(f"checkpoint {path} does not fit {type(detector).__name__}: "
                              f"{key_diff(expected, found)}{hint}")
    try:
        detector.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # same keys, other shapes: another width or input size
        shapes = [line.strip() for line in str(exc).splitlines() if "size mismatch" in line]
        raise CheckpointError(f"checkpoint {path} does not fit {type(detector).__name__}: "
                              f"{shapes[0] if shapes else str(exc).splitlines()[0]}; it was made for another width "
                              "or input size: pass the parameters it was trained with, or train it again "
                              "(`dfbench train`; a cached one: delete it and `dfbench run` retrains)") from None
    return digest


CACHE_MARKER = ".dfbench-cache"
CHECKPOINT_SUFFIXES = (".safetensors", ".json")


def _checkpoints_only(path: Path) -> bool:
    """A detector's folder of a cache written before the marker existed: checkpoints and cards only."""
    return path.is_dir() and not path.is_symlink() and all(
        f.suffix in CHECKPOINT_SUFFIXES or f.name.startswith(".") for f in path.iterdir())


def claim_cache(cache_dir: Path) -> None:
    """Refuse to train into a folder that is not a dfbench checkpoint cache (safe_files.claim_folder)."""
    claim_folder(cache_dir, CACHE_MARKER, "checkpoint cache", ours=_checkpoints_only)


def cache_path(cache_dir: Path, detector: str, dataset: str, image_size: int, seed: int, tag: str = "") -> Path:
    """Where the trained-on-first-use checkpoint of a detector lives."""
    suffix = f"_{tag}" if tag else ""
    return Path(cache_dir) / detector / f"{dataset}{image_size}_seed{seed}{suffix}.safetensors"


def default_cache_dir() -> Path:
    """Trained checkpoints live here: $DFBENCH_CACHE, else ~/.cache/dfbench/checkpoints."""
    env = os.environ.get("DFBENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "dfbench" / "checkpoints"


def find_weights(sha256: str, cache_dir: Path) -> Path | None:
    """The checkpoint in ``cache_dir`` whose card names ``sha256`` (verify it with :func:`verify_weights`)."""
    for path in sorted(Path(cache_dir).rglob("*.safetensors")) if Path(cache_dir).is_dir() else ():
        card = read_card(path)
        if card is not None and card.sha256 == sha256:
            return path
    return None


def with_companions(digest: str, companions: list[Path]) -> str:
    """A file's sha256 joined with the files its layout read beside it (UnivFD's probe): what the digest names."""
    if not companions:
        return digest
    return hashlib.sha256("".join([digest, *map(sha256_file, companions)]).encode()).hexdigest()


def weights_digest(path: Path, layout: Layout | None = None) -> str:
    """The sha256 that names the weights at ``path``, as :func:`load_weights` records it: a file's bytes
    (with its layout's companion files), or a Hugging Face folder's files (``detectors.hf.folder_digest``)."""
    path = Path(path)
    if path.is_dir():
        from ..detectors.hf import folder_digest

        return folder_digest(path)
    digest = sha256_file(path)
    if layout is None or not layout.companions:
        return digest
    return with_companions(digest, layout.read_sources(path)[1])


def verify_weights(path: Path, sha256: str, what: str, detector: str = "") -> None:
    """The one weights check: ``path`` (a file, or a Hugging Face folder) holds the weights named ``sha256``;
    else a CheckpointError that names ``what`` was evaluated with those weights. ``detector``'s public
    layout, if it has one, counts companion files as :func:`load_weights` counts them."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"weights file {path} not found")
    try:
        digest = weights_digest(path, LAYOUTS.get(detector))
    except OSError as exc:
        raise CheckpointError(f"weights file {path}: cannot read: {exc.strerror}") from None
    if digest != sha256:
        raise CheckpointError(f"weights file {path} has sha256 {digest[:12]}..., not {sha256[:12]}...: not the "
                              f"weights {what} was evaluated with")
