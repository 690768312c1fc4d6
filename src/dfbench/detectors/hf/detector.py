"""A Hugging Face ``transformers`` image classifier from a local ``save_pretrained`` folder.

``dfbench.load_detector("path/to/dir")``, ``--model hf:path/to/dir`` or ``model = "hf:..."`` in a
grid. The folder holds ``config.json`` (architecture, ``id2label``), ``model.safetensors`` (read as
safetensors only: a ``pytorch_model.bin`` is a pickle and is refused) and
``preprocessor_config.json``. Nothing is downloaded and no code from the folder runs
(``trust_remote_code`` stays off). The classifier's preprocessing runs inside the Detector
(preprocess.py) and its polarity comes from its label names (labels.py).

Shape: ``(N, 3, H, W)`` in [0, 1], any size -> ``(N, 2)`` logits (real, fake): the two class
logits in fake = 1 order, or for C > 2 classes ``[z_real, logsumexp(z_others)]``, whose softmax
is (P(real), 1 - P(real)) and whose margin is log P(fake) - log P(real).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ...errors import CheckpointError, ConfigError
from ...safe_files import read_json
from ..base import Detector, DetectorOutputError
from .labels import Polarity, polarity
from .preprocess import Preprocess, parse

log = logging.getLogger(__name__)
INSTALL = "Hugging Face models need transformers: pip install 'dfbench[hf]'"


def require_transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise ConfigError(INSTALL) from None
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    return transformers


def _object(path: Path, where: str) -> dict[str, Any]:
    data = read_json(path, f"{where}: {path.name}")
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: {path.name} is not a JSON object")
    return data


def check_folder(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``config.json`` and ``preprocessor_config.json`` of a classifier folder, checked for what dfbench
    needs before transformers is asked to build anything."""
    where = f"Hugging Face model {folder}"
    if not folder.is_dir():
        raise ConfigError(f"{where}: not a folder (a save_pretrained directory holds config.json and weights)")
    if not (folder / "config.json").is_file():
        raise ConfigError(f"{where}: no config.json (is this a save_pretrained directory?)")
    if not any(folder.glob("*.safetensors")):
        pickled = [p.name for p in folder.glob("*.bin")]
        raise CheckpointError(f"{where}: no .safetensors weights" + (
            f" ({', '.join(pickled)} is a pickle, which dfbench never reads; in your own environment run "
            "AutoModelForImageClassification.from_pretrained(dir).save_pretrained(dir, safe_serialization=True))"
            if pickled else ""))
    if not (folder / "preprocessor_config.json").is_file():
        raise ConfigError(f"{where}: no preprocessor_config.json (its resize and normalization are part of the "
                          "model; save the image processor beside it with processor.save_pretrained(dir))")
    return _object(folder / "config.json", where), _object(folder / "preprocessor_config.json", where)


class HuggingFaceClassifier(Detector):
    """``model`` (a ``*ForImageClassification``) with its processor's steps and its label polarity."""

    def __init__(self, model: nn.Module, steps: Preprocess, polar: Polarity, folder: Path,
                 input_size: tuple[int, int] | None = None) -> None:
        super().__init__(input_size or steps.output_size or (224, 224), steps.mean, steps.std)
        self.model, self.steps, self.polar = model, steps, polar
        self.pretrained_from = folder

    def classify(self, z: Tensor) -> Tensor:
        logits = self.model(pixel_values=self.steps(z, -self.mean / self.std)).logits
        if logits.shape != (z.shape[0], self.polar.classes):
            raise DetectorOutputError(f"the classifier returned logits of shape {tuple(logits.shape)}, expected "
                                      f"({z.shape[0]}, {self.polar.classes})")
        logits = logits.float()
        if self.polar.real is not None:
            others = [i for i in range(self.polar.classes) if i != self.polar.real]
            fake = logits[:, others[0]:others[0] + 1] if len(others) == 1 else \
                logits[:, others].logsumexp(1, keepdim=True)
            return torch.cat([logits[:, self.polar.real:self.polar.real + 1], fake], dim=1)
        rest = [i for i in range(self.polar.classes) if i not in self.polar.fake]
        return torch.stack([logits[:, rest].logsumexp(1), logits[:, list(self.polar.fake)].logsumexp(1)], dim=1)

    def extra_repr(self) -> str:
        return f"steps={self.steps}, polarity={self.polar}"


def load_huggingface(folder: str | Path, fake_labels: Sequence[str] | None = None, real_label: str | None = None,
                     input_size: tuple[int, int] | None = None) -> HuggingFaceClassifier:
    """The classifier saved in ``folder``, as a Detector in eval mode (see the module docstring)."""
    folder = Path(folder)
    config, _ = check_folder(folder)
    where = f"Hugging Face model {folder}"
    if config.get("auto_map"):
        raise ConfigError(f"{where}: config.json's auto_map asks to run code shipped with the model; dfbench runs "
                          "none (trust_remote_code stays off)")
    n = config.get("num_labels", 2)  # transformers omits the default labels LABEL_0 .. LABEL_{n-1}
    raw = config.get("id2label", {str(i): f"LABEL_{i}" for i in range(n)} if isinstance(n, int) else None)
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: config.json has no id2label (is it an image classifier?)")
    try:
        id2label = {int(k): str(v) for k, v in raw.items()}
    except ValueError:
        raise ConfigError(f"{where}: config.json's id2label keys are not class indices: {list(raw)[:5]}") from None
    polar = polarity(id2label, where, fake_labels, real_label)  # before transformers: a bad label costs nothing
    transformers = require_transformers()
    try:  # transformers reads its own config: its class defaults and its reading of the keys apply
        processor_object = transformers.AutoImageProcessor.from_pretrained(str(folder), local_files_only=True,
                                                                           trust_remote_code=False)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{where}: transformers could not read preprocessor_config.json: {first[:300]}") from None
    steps = parse(processor_object, where)
    try:
        model, info = transformers.AutoModelForImageClassification.from_pretrained(
            str(folder), local_files_only=True, use_safetensors=True, trust_remote_code=False, dtype=torch.float32,
            output_loading_info=True)
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{where}: transformers could not build it: {first[:300]}") from None
    gaps = {k: list(v) for k, v in info.items() if k in ("missing_keys", "mismatched_keys") and v}
    if gaps:  # transformers would start them from random values: every score would be noise
        shown = "; ".join(f"{k.replace('_', ' ')}: {', '.join(map(str, v[:4]))}{' ...' if len(v) > 4 else ''}"
                          for k, v in gaps.items())
        raise CheckpointError(f"{where}: its weights do not fill the model ({shown}); transformers would "
                              "initialize them at random")
    log.info("%s: %s, %s", folder, type(model).__name__, polar.describe(id2label))
    return HuggingFaceClassifier(model.eval(), steps, polar, folder, input_size).eval()


def folder_digest(folder: Path) -> str:
    """sha256 over the folder's config, processor config and weight files (names and bytes)."""
    h = hashlib.sha256()
    for path in sorted([*folder.glob("*.json"), *folder.glob("*.safetensors")]):
        h.update(path.name.encode())
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def describe(folder: Path) -> str:
    """One line for ``zoo identify``: the architecture and labels of a classifier folder."""
    config, _ = check_folder(folder)
    return f"Hugging Face classifier ({', '.join(config.get('architectures') or ['?'])}; labels " \
           f"{json.dumps(config.get('id2label'))})"
