"""What a command line or an API call changes in a grid, checked as a grid file is."""

from __future__ import annotations

import inspect
from dataclasses import replace
from pathlib import Path

from ..data import datasets
from ..data.faces import FACE_MODES
from ..data.files import check_root
from ..detectors import detectors
from ..detectors.from_file import register_model
from ..errors import ConfigError
from .grid import Grid, check_precision, parse_detector


def override(grid: Grid, *, detector_names: list[str] | None = None, models: list[str] | None = None,
             weights: str | Path | None = None, dataset: str | None = None, data_root: str | Path | None = None,
             precision: str | None = None, max_samples: int | None = None, faces: str | None = None) -> Grid:
    """The grid with what a command line or an API call changes: plain ``detector_names`` and/or
    ``models`` (``file.py:factory``) instead of the grid's, with ``weights`` for a single one,
    another ``dataset`` (its own parameters dropped) and/or ``data_root``, face cropping (``faces``:
    mtcnn or none, for datasets of files), the ``precision``, the first ``max_samples`` samples.
    Checked as a grid file is."""
    if detector_names or models:
        tables = [{"name": n} for n in dict.fromkeys(detector_names or [])]
        tables += [{"model": m} for m in dict.fromkeys(models or [])]
        if weights is not None:
            if len(tables) != 1:
                raise ConfigError(f"--weights names the weights of one detector, but {len(tables)} are given")
            tables[0]["weights"] = str(weights)
        grid = replace(grid, detectors=tuple(parse_detector(t, "--detector/--model", {}, grid.image_size)
                                             for t in tables))
    elif weights is not None:
        raise ConfigError("--weights needs the one detector it belongs to (--detector or --model)")
    if dataset is not None or data_root is not None:
        params = dict(grid.data_params) if dataset in (None, grid.dataset) else {}
        if data_root is not None:
            params["root"] = str(data_root)
        name = dataset or grid.dataset
        datasets.get(name)
        if data_root is not None:  # a --data-root that is not there fails before anything is written
            check_root(data_root, name)
        grid = replace(grid, dataset=name, data_params=params)
    if faces is not None:
        if faces not in FACE_MODES:
            raise ConfigError(f"--faces must be one of {', '.join(FACE_MODES)}, got {faces!r}")
        if "faces" not in inspect.signature(datasets.get(grid.dataset)).parameters:
            raise ConfigError(f"--faces applies to datasets of image or video files (folder, ffpp, ...), "
                              f"not {grid.dataset!r}")
        grid = replace(grid, data_params={**grid.data_params, "faces": faces})
    if precision is not None:
        grid = replace(grid, precision=check_precision(precision, "--precision"))
    if max_samples is not None:
        if isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 1:
            raise ConfigError(f"--max-samples must be >= 1, got {max_samples}")
        grid = replace(grid, max_samples=max_samples)
    return grid


def one_detector_name(detector: str | None, models: list[str] | None) -> str:
    """The one detector a command takes (a registered name, or one ``file.py:factory``), registered."""
    if (detector is None) == (not models) or models and len(models) != 1:
        raise ConfigError("name one detector: a registered name or one --model path/to/file.py:factory")
    if models:
        return register_model(models[0])[0]
    detectors.get(detector or "")
    return detector or ""


def one_detector(grid: Grid, detector: str | None, models: list[str] | None, weights: str | Path | None) -> Grid:
    """The grid with just the one detector a command takes: the grid's own entry for
    ``detector`` (its weights, training, parameters), or the model, with ``weights`` if given."""
    name = one_detector_name(detector, models)
    if models or weights is not None:
        return override(grid, detector_names=[detector] if detector else None, models=models, weights=weights)
    return replace(grid, detectors=(grid.detector_spec(name),))


def zoo_grids(grid: Grid, weights_dir: str | Path) -> tuple[list[Grid], list[str]]:
    """``grid`` once per input size, run on the zoo detectors whose weights lie in ``weights_dir``
    (detectors/public/zoo.py finds them), each at its project's input size; and one line per zoo
    detector not found. The grid's own detectors are replaced."""
    from ..detectors.public.zoo import find_weights

    found, missing = find_weights(Path(weights_dir))
    if not found:
        raise ConfigError(f"--weights-dir {weights_dir}: no zoo detector's weights found (`dfbench zoo` lists the "
                          "released file names; `dfbench zoo identify FILE` says what a file is)")
    grids = []
    for size in sorted({f.layout.input_size for f in found}):
        tables = [{"name": f.layout.name, "weights": str(f.path)} for f in found if f.layout.input_size == size]
        detectors_ = tuple(parse_detector(t, f"--weights-dir {weights_dir}", {}, size) for t in tables)
        grids.append(replace(grid, image_size=size, detectors=detectors_))
    return grids, missing
