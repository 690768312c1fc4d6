"""Evaluate a detector one already has, in one call::

    import dfbench
    results = dfbench.evaluate(model, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), image_size=64)
    print(results.table)           # clean vs robust accuracy per eps, worst case, flags
    entry = results.entry()        # a leaderboard entry, valid against the schema

The model goes through the same driver as `dfbench run` (prepare -> plan -> execute -> store,
docs/architecture.md): its threshold is calibrated on the dataset's validation split as
`dfbench run` calibrates a trained detector's, every attack aims at it, and the sanity probe
flags what cannot be trusted. Nothing is implemented twice.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn

from .benchmark.driver import run_grid
from .benchmark.executors import InProcess
from .benchmark.grid import parse_grid, read_grid_doc
from .benchmark.jobs import RunSummary
from .benchmark.prepare import load_data
from .benchmark.store import Store
from .detectors.base import Detector, DetectorOutputError
from .detectors.per_frame import for_modality
from .detectors.wrapped import model_fingerprint, model_side, wrap
from .device import module_device, resolve_device
from .errors import ConfigError
from .leaderboards.entry import entries_from_records, validate_entry
from .leaderboards.table import leaderboard
from .metrics import best_threshold
from .train import predict_scores
from .train.checkpoint import default_cache_dir
from .train.trained import Trained

DEFAULT_SUITE = "standard"  # the shipped grid whose attacks are evaluate()'s default: protocol standard-v3


@dataclass(frozen=True)
class Results:
    """What ``evaluate()`` measured: the leaderboard ``table``, one row per cell in ``records``,
    every sample's clean and adversarial score in ``samples``, and the ``threshold`` used."""

    table: pd.DataFrame
    records: pd.DataFrame
    samples: pd.DataFrame
    threshold: float
    entries: list[dict]
    summary: RunSummary

    def entry(self) -> dict:
        """The leaderboard entry of the evaluated detector (one per defense chain: the undefended one)."""
        undefended = [e for e in self.entries if not e["defenses"] and not e.get("channel")] or self.entries
        if not undefended:
            raise ConfigError("no cell finished: there is no entry (see records.error)")
        return validate_entry(undefended[0], "evaluate() entry")


def _grid_doc(grid: str | Path | Mapping[str, Any] | None) -> dict[str, Any]:
    """A grid's document: a shipped grid's name, a TOML path, or a dict in the grid-file form."""
    if grid is None:
        grid = DEFAULT_SUITE
    if isinstance(grid, Mapping):
        return dict(grid)
    return read_grid_doc(grid)[0]


def _state_of(model: Any) -> Callable[[], None]:
    """A function that puts ``model`` back on its device, in its train/eval mode, with its threshold."""
    if not isinstance(model, nn.Module):
        return lambda: None
    device, training = module_device(model), model.training
    threshold = getattr(model, "threshold", None)

    def restore() -> None:
        model.to(device).train(training)
        if isinstance(model, Detector) and threshold is not None:
            model.threshold = threshold

    return restore


def _check_outputs(detector: Detector, x: Tensor, name: str) -> None:
    """One clean forward before any compute: the wrong shape or a non-finite output is one line."""
    try:
        with torch.no_grad():
            logits = detector(x.to(module_device(detector)))
    except (DetectorOutputError, TypeError, ValueError, RuntimeError) as exc:  # shapes, channels, devices
        raise ConfigError(f"{name} cannot score {tuple(x.shape[1:])} inputs: "
                          f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    if not torch.isfinite(logits).all():
        raise ConfigError(f"{name} returned NaN or inf on clean validation inputs; nothing it scores can be trusted")


def evaluate(model: nn.Module | Callable[[Tensor], Tensor], *, dataset: str | None = None,
             image_size: int | None = None, mean: tuple[float, float, float] | None = None,
             std: tuple[float, float, float] | None = None, output: str = "logits", fake_index: int = 1,
             attacks: Sequence[Mapping[str, Any]] | None = None, grid: str | Path | Mapping[str, Any] | None = None,
             defenses: Sequence[Mapping[str, Any]] | None = None, threshold: float | None = None,
             out: str | Path | None = None, seed: int | None = None, device: str = "auto",
             max_samples: int | None = None, data_root: str | Path | None = None, name: str | None = None,
             cache_dir: str | Path | None = None) -> Results:
    """Attack ``model`` (a Detector, an ``nn.Module`` or a callable on ``(N, 3, H, W)`` in [0, 1])
    and measure clean vs robust accuracy.

    - Conventions of a model that is not a Detector: ``mean``/``std`` (applied inside the
      wrapper: epsilons stay in pixel space), ``output`` (``logits`` (N, 2) | ``logit`` | ``probs``),
      ``fake_index`` (which output means fake); see :mod:`dfbench.detectors.wrapped`.
    - What to run: ``attacks`` (tables in the grid-file form, as under ``[[attacks]]``) and
      ``defenses`` (as under ``[[defenses]]``), or ``grid`` (a shipped grid's name, a TOML path or
      a dict); by default the ``standard`` grid's suite, protocol standard-v3 (the leaderboard's
      headline: minutes per detector on a CPU). Changing its attacks or seed makes the run's
      protocol ``evaluate@<digest>``, ranked apart. ``dataset`` (default the grid's, or
      ``mini``), ``image_size``, ``max_samples``, ``data_root`` and ``seed`` override the grid's.
    - ``threshold``: calibrated on the validation split when None (as `dfbench run` does), or given.
    - ``out``: a results directory; the same SQLite store as `dfbench run` writes, resumed the
      same way. Without it the store is temporary.
    - ``name``: the detector's name in records and entries (default: the model's class name).
    """
    doc = _grid_doc(grid)
    if attacks is not None or (seed is not None and seed != doc.get("seed", 0)):
        doc.pop("protocol", None)  # no longer the grid's suite: a protocol of its own, ranked apart
        doc["name"] = "evaluate"
    if attacks is not None:
        doc["attacks"] = [dict(a) for a in attacks]
    if defenses is not None:
        doc["defenses"] = [dict(d) for d in defenses]
    data = dict(doc.get("data", {}))
    if dataset is not None and dataset != data.get("dataset"):
        data = {k: v for k, v in data.items() if k in ("image_size", "split", "max_samples")}  # its own keys go
        data["dataset"] = dataset
    data.setdefault("dataset", "mini")
    size = image_size or model_side(model, data.get("image_size", 64))
    data["image_size"] = int(size)
    for key, value in (("max_samples", max_samples), ("root", None if data_root is None else str(data_root))):
        if value is not None:
            data[key] = value
    try:
        detector = wrap(model, input_size=data["image_size"], mean=mean, std=std, output=output,
                        fake_index=fake_index)
    except ValueError as exc:  # a convention out of range: one line (TypeError: not a model at all)
        raise ConfigError(f"evaluate(): {exc}") from None
    name = name or ("".join(c if c.isalnum() or c in "_." else "_" for c in type(model).__name__) or "model")
    doc.update(data=data, detectors=[{"name": name}], name=doc.get("name", "evaluate"))
    if seed is not None:
        doc["seed"] = seed
    spec = parse_grid(doc, "evaluate()", given={name: detector})
    spec = replace(spec, sha256=hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest())

    target = resolve_device(device)
    split_data = load_data(spec)
    restore = _state_of(model)
    detector = for_modality(detector, split_data.modality, name).to(target).eval()
    _check_outputs(detector, split_data["val"].images[:2], name)
    if threshold is None:
        val = split_data["val"]
        threshold = best_threshold(predict_scores(detector.to(target), val.images, spec.batch_size), val.labels)
    elif not 0 < float(threshold) < 1:
        raise ConfigError(f"threshold must be a probability in (0, 1), got {threshold}")
    detector.threshold = float(threshold)
    fingerprint = hashlib.sha256(f"{model_fingerprint(detector)}|threshold={float(threshold)!r}".encode()).hexdigest()
    given = {name: Trained(detector, None, fingerprint, float(threshold), None)}
    with tempfile.TemporaryDirectory(prefix="dfbench-evaluate-") as tmp:
        store = Store(Path(out or tmp) / "results.sqlite")
        try:
            summary = run_grid(spec, store, Path(cache_dir or default_cache_dir()), executor=InProcess(),
                               device=target, given=given)
            records, samples = store.records(), store.samples()
        finally:
            store.close()
            restore()
    records = records[(records.detector == name) & (records.weights_sha256 == fingerprint)]  # a shared store: ours
    samples = samples[samples.key.isin(records.key)]
    entries = entries_from_records(records.reset_index(drop=True), samples.reset_index(drop=True),
                                   flags_allowed=True)
    return Results(leaderboard(entries), records, samples, float(threshold), entries, summary)
