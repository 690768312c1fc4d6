"""Grid files: which detectors, attacks, norms and epsilons to run, and on what data.

A grid is a TOML file (``quick`` and ``full`` ship in ``benchmark/grids/``)::

    name = "quick"
    seed = 0
    [data]
    dataset = "mini"       # a registered dataset
    image_size = 64
    split = "test"
    max_samples = 160      # optional: the first N samples of the split
    root = "/data/ffpp"    # any other key goes to the dataset (a data root, frames, crop margin...)
    [[detectors]]
    name = "custom_cnn"    # optional: weights = "path/to/file.safetensors"
    [[attacks]]
    name = "pgd"
    norm = "linf"
    backend = "torchattacks"
    eps = ["1/255", "2/255", 0.03]   # numbers or "a/b" fractions
    steps = 10             # any other key is passed to the attack
    [[defenses]]           # optional: each chain is attacked naively and adaptively
    chain = [{ name = "jpeg", quality = 75 }, { name = "gaussian_blur", sigma = 1.0 }]

Everything is validated when the file is loaded, before any compute.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..attacks import attacks, create_attack
from ..data import SPLITS, datasets
from ..detectors import Detector, detectors
from ..detectors.autocast import PRECISIONS
from ..detectors.from_file import HF_PREFIX, register_model
from ..errors import ConfigError, DfbenchError
from ..safe_files import read_toml
from ..train.trained import training_config
from ..validate import check_keys, integer, parse_eps, require  # noqa: F401  (parse_eps: re-exported for the CLI)
from .cells import AttackSpec, Cell, DefenseSpec, DetectorSpec
from .protocol import check_published, protocol_id, suite_sha256
from .views import parse_channel, parse_defense, parse_views

GRIDS_DIR = Path(__file__).parent / "grids"
TOP_KEYS = {"name", "protocol", "seed", "batch_size", "precision", "data", "detectors", "attacks", "defenses",
            "channels"}
DATA_KEYS = {"dataset", "image_size", "split", "max_samples"}


@dataclass(frozen=True)
class Grid:
    name: str
    seed: int
    dataset: str
    image_size: int
    split: str
    max_samples: int | None
    batch_size: int
    detectors: tuple[DetectorSpec, ...]
    attacks: tuple[AttackSpec, ...]
    defenses: tuple[DefenseSpec, ...] = ()
    channels: tuple[DefenseSpec, ...] = ()  # distribution channels ([[channels]]): views scored through them
    sha256: str = ""
    data_params: dict[str, Any] = field(default_factory=dict)  # the dataset's own parameters ([data] extras)
    precision: str = "float32"  # or "bfloat16": the detectors under autocast (detectors/autocast.py)
    protocol_name: str = ""  # `protocol = "standard-v3"`; the grid's name where none is declared

    @property
    def protocol(self) -> str:
        """``<protocol or grid name>@<8 hex>`` (benchmark/protocol.py): numbers rank together only when equal."""
        suite = suite_sha256(self.attacks, self.seed, self.batch_size)
        return protocol_id(self.protocol_name or self.name, suite, self.split, self.image_size, self.max_samples)

    def dataset_kwargs(self) -> dict[str, Any]:
        return {"image_size": self.image_size, **self.data_params}

    def detector_spec(self, name: str) -> DetectorSpec:
        """The grid's entry for detector ``name`` (its weights, training, parameters), or a plain one."""
        return next((d for d in self.detectors if d.name == name), DetectorSpec(name))

    def keyed_data_params(self) -> dict[str, Any]:
        """The data parameters that belong in a cell's key: where the data or its crop cache lies
        does not (the content fingerprint is in the key), so moving them re-runs nothing."""
        return {k: v for k, v in self.data_params.items() if k not in ("root", "cache_dir")}

    def views(self, detector: DetectorSpec) -> list[tuple[DefenseSpec | None, bool]]:
        """(defense or channel, adaptive) pairs for a detector: undefended once, then each defense
        that wraps it and each channel it is scored through, attacked naively and adaptively."""
        return [(None, False), *((d, adaptive) for d in (*self.defenses, *self.channels) if d.wraps(detector)
                                 for adaptive in (False, True))]

    def protocol_of(self, view: DefenseSpec | None) -> str:
        """The protocol of a view's numbers: the grid's, or (through a channel) the grid's with the channel."""
        if view is None or not view.channel:
            return self.protocol
        suite = suite_sha256(self.attacks, self.seed, self.batch_size, (view.name, view.eot_samples))  # as resolved
        return protocol_id(f"{self.protocol_name or self.name}-via-{view.slug}", suite, self.split, self.image_size,
                           self.max_samples)

    def cells(self, detector: DetectorSpec | None = None) -> list[Cell]:
        dets = self.detectors if detector is None else (detector,)
        return [c for d in dets for u in self.units(d) for c in u]

    def units(self, detector: DetectorSpec, defense: DefenseSpec | None = None,
              adaptive: bool | None = None) -> list[list[Cell]]:
        """The detector's cells grouped into units of work (for one defense view, if given): one
        cell each, except that an attack that sweeps (a worst-case cascade, CW) runs all its eps
        values as one unit."""
        units: list[list[Cell]] = []
        for view in self.views(detector):
            if adaptive is not None and view != (defense, adaptive):
                continue
            for a in self.attacks:
                cells = [Cell(detector, a, eps, *view) for eps in a.eps]
                units.extend([cells] if a.sweeps else [[c] for c in cells])
        return units


def require_detectors(grid: Grid) -> Grid:
    """``grid`` when it names a detector, else a one-line error saying how to give one."""
    if not grid.detectors:
        raise ConfigError(f"grid {grid.name!r} names no detector: give one with --detector, --model or --weights-dir "
                          "(or [[detectors]] in the grid file)")
    return grid


def check_precision(precision: Any, where: str) -> str:
    if precision not in PRECISIONS:
        raise ConfigError(f"{where} must be one of {', '.join(PRECISIONS)}, got {precision!r}"
                          + (" (float16 flushes small input gradients to zero: attacks would stall)"
                             if precision == "float16" else ""))
    return str(precision)


DETECTOR_KEYS = {"name", "model", "weights", "training"}  # any other key is the detector's parameter
RUNNER_KEYS = ("input_size",)  # set from [data] image_size


def parse_detector(entry: Any, where: str, given: Mapping[str, Detector], image_size: int) -> DetectorSpec:
    """Check a ``[[detectors]]`` entry: a registered ``name``, or ``model = "file.py:factory"``
    (whose factory is called once now, so that one that raises fails here, in one line)."""
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a table")
    source, sha, params = "", "", {k: v for k, v in entry.items() if k not in DETECTOR_KEYS}
    if "model" in entry:
        if "name" in entry:
            raise ConfigError(f"{where}: give a registered 'name' or a 'model' (file.py:factory), not both")
        source = require(entry, "model", str, where)
        name, sha = register_model(source)
        detectors.check(name, params, where, reserved=RUNNER_KEYS)
        detectors.create(name, input_size=(image_size, image_size), **params)
    else:
        name = require(entry, "name", str, where)
        if name not in given:
            detectors.check(name, params, where, reserved=RUNNER_KEYS)  # also: unknown name
    weights = entry.get("weights")
    if weights is not None and (not isinstance(weights, str) or not Path(weights).is_file()):
        raise ConfigError(f"{where}: weights file {weights} does not exist")
    training = entry.get("training", {})
    if not isinstance(training, dict):
        raise ConfigError(f"{where}: training must be a table, e.g. {{ adv = \"pgd\", adv_eps = \"8/255\" }}")
    if "adv_eps" in training:
        training = {**training, "adv_eps": parse_eps(training["adv_eps"], where)}
    try:
        training_config(training, 0)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: training: {exc}") from None
    if name in given and (weights or training or params):
        raise ConfigError(f"{where}: {name} is the model handed in: it takes no weights, training or parameters")
    return DetectorSpec(name, weights, params, training, source, sha)


def resolve_grid_path(name_or_path: str | Path) -> Path:
    """A shipped grid by name (``quick``, ``full``) or a path to a TOML file."""
    shipped = GRIDS_DIR / f"{name_or_path}.toml"
    if shipped.is_file():
        return shipped
    path = Path(name_or_path)
    if not path.is_file():
        names = ", ".join(sorted(p.stem for p in GRIDS_DIR.glob("*.toml")))
        raise ConfigError(f"grid {str(name_or_path)!r} is neither a shipped grid ({names}) nor a file")
    return path


def read_grid_doc(name_or_path: str | Path) -> tuple[dict, bytes, Path]:
    """A shipped grid's or a TOML file's document, its bytes and its path; not validated yet."""
    path = resolve_grid_path(name_or_path)
    try:
        doc, raw = read_toml(path, "grid file")
    except DfbenchError as exc:
        raise ConfigError(str(exc)) from None
    return doc, raw, path


def load_grid(name_or_path: str | Path) -> Grid:
    """A grid file loaded and checked; relative paths in it are relative to the file."""
    doc, raw, path = read_grid_doc(name_or_path)
    grid = parse_grid(resolve_paths(doc, path.parent), str(path))
    return replace(grid, sha256=hashlib.sha256(raw).hexdigest())


def resolve_paths(doc: dict, base: Path) -> dict:
    """``doc`` with its relative file paths (detector ``weights``, a ``model`` file, the data ``root``
    and ``cache_dir``) taken against ``base``, the grid file's folder, as a reader expects (``~`` is
    the home folder); below the working directory they stay relative to it, so records carry no
    machine's absolute paths."""
    cwd = Path.cwd().resolve()

    def resolved(value: Any) -> Any:
        if not isinstance(value, str) or not value:
            return value
        path = (base / Path(value).expanduser()).resolve()  # an absolute path stays as it is
        return str(path.relative_to(cwd)) if path.is_relative_to(cwd) else str(path)

    doc = dict(doc)
    if isinstance(doc.get("data"), dict):
        doc["data"] = {k: resolved(v) if k in ("root", "cache_dir") else v for k, v in doc["data"].items()}
    if isinstance(doc.get("detectors"), list):
        doc["detectors"] = [_resolve_detector(d, resolved) if isinstance(d, dict) else d for d in doc["detectors"]]
    return doc


def _resolve_detector(entry: dict, resolved: Any) -> dict:
    entry = dict(entry)
    if "weights" in entry:
        entry["weights"] = resolved(entry["weights"])
    model = entry.get("model")
    if isinstance(model, str) and model.startswith(HF_PREFIX):  # hf:path/to/dir
        entry["model"] = HF_PREFIX + resolved(model.removeprefix(HF_PREFIX))
    elif isinstance(model, str) and ".py:" in model:  # file.py:factory (a module path stays as it is)
        file, _, factory = model.rpartition(":")
        entry["model"] = f"{resolved(file)}:{factory}"
    return entry


def _check_dataset_params(dataset: str, params: dict[str, Any], where: str) -> None:
    """Keys beyond DATA_KEYS go to the dataset's factory: they must be its parameters."""
    parameters = inspect.signature(datasets.get(dataset)).parameters
    if any(p.kind == p.VAR_KEYWORD for p in parameters.values()):
        return
    unknown = sorted(set(params) - set(parameters))
    if unknown:
        allowed = sorted(DATA_KEYS | (set(parameters) - {"image_size"}))
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} for dataset {dataset!r}; "
                          f"allowed: {', '.join(allowed)}")


def parse_grid(doc: dict, where: str = "grid", given: Mapping[str, Detector] | None = None) -> Grid:
    """Validate a parsed grid document; every error names the offending entry. ``given``:
    detectors handed in by name (``dfbench.evaluate``), not looked up in the registry."""
    check_keys(doc, TOP_KEYS, where)
    data = require(doc, "data", dict, where)
    dataset = require(data, "dataset", str, f"{where} [data]")
    if dataset not in datasets:
        raise ConfigError(f"{where} [data]: unknown dataset {dataset!r}; known: {', '.join(datasets.names())}")
    image_size = integer(data.get("image_size", 64), f"{where} [data]: image_size", 16, 1024)
    split = data.get("split", "test")
    max_samples = data.get("max_samples")
    if split not in SPLITS:
        raise ConfigError(f"{where} [data]: split must be one of {', '.join(SPLITS)}, got {split!r}")
    if max_samples is not None:
        max_samples = integer(max_samples, f"{where} [data]: max_samples", lo=1)
    seed = integer(doc.get("seed", 0), f"{where}: seed", lo=0, hi=2 ** 31 - 1)
    batch_size = integer(doc.get("batch_size", 64), f"{where}: batch_size", lo=1, hi=1 << 16)
    precision = check_precision(doc.get("precision", "float32"), f"{where}: precision")

    # A grid may leave its detectors to the command line (--detector, --model, --weights-dir): run_grid
    # refuses a grid that still has none. An empty list is a mistake, said here.
    dets = [parse_detector(entry, f"{where} detectors[{i}]", given or {}, image_size)
            for i, entry in enumerate(require(doc, "detectors", list, where) if "detectors" in doc else [])]
    if not dets and "detectors" in doc:
        raise ConfigError(f"{where}: no detectors")
    names = [(d.name, json.dumps(d.params, sort_keys=True), json.dumps(d.training, sort_keys=True), d.weights)
             for d in dets]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: a detector is listed twice")

    atts = []
    for i, entry in enumerate(require(doc, "attacks", list, where)):
        w = f"{where} attacks[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{w}: expected a table")
        name = require(entry, "name", str, w)
        attacks.check(name, {}, w)  # an unknown name, in one line naming the entry
        eps_list = require(entry, "eps", list, w)
        if not eps_list:
            raise ConfigError(f"{w}: empty eps list")
        eps = tuple(sorted({parse_eps(e, w) for e in eps_list}))
        params = {k: v for k, v in entry.items() if k not in ("name", "eps")}
        attacks.check(name, {"eps": eps[0], **params}, w, reserved=("seed",))  # seeded from the grid's seed
        for e in eps:  # building each attack checks norm, backend, eps and parameters now
            try:
                attack = create_attack(name, eps=e, **params)
            except ConfigError as exc:
                raise ConfigError(f"{w}: {exc}") from None
            if attack.norm == "l2" and e > math.sqrt(3) * image_size:
                raise ConfigError(f"{w}: L2 eps {e:g} exceeds the largest distance between two 3x{image_size}x"
                                  f"{image_size} images in [0, 1] ({math.sqrt(3) * image_size:.4g})")
        atts.append(AttackSpec(name, attack.norm, attack.backend, eps,
                               {k: v for k, v in params.items() if k not in ("norm", "backend")},
                               sweeps=attack.sweeps, randomized_rules=attack.randomized_rules))
    if not atts:
        raise ConfigError(f"{where}: no attacks")
    defs = parse_views(doc, "defenses", parse_defense, where, dets, image_size, given or {})
    chans = parse_views(doc, "channels", parse_channel, where, dets, image_size, given or {})
    data_params = {k: v for k, v in data.items() if k not in DATA_KEYS}
    _check_dataset_params(dataset, data_params, f"{where} [data]")
    protocol = doc.get("protocol", "")
    if not isinstance(protocol, str):
        raise ConfigError(f"{where}: protocol must be a string, e.g. \"standard-v3\", got {protocol!r}")
    check_published(protocol, atts, seed, batch_size, where)
    return Grid(name=str(doc.get("name", Path(where).stem)), seed=seed, dataset=dataset, image_size=image_size,
                split=split, max_samples=max_samples, batch_size=batch_size, detectors=tuple(dets),
                attacks=tuple(atts), defenses=defs, channels=chans, data_params=data_params, precision=precision,
                protocol_name=protocol)
