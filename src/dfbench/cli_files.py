"""`dfbench export` and `dfbench score`: adversarial examples as real files, and files scored
(dfbench.adversarial_files). Registered on the app in cli.py."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .cli_options import Cache, Model, Verbose, Weights, cache_folder, setup_logging
from .errors import DfbenchError
from .safe_files import folder_to_write
from .validate import integer

Device = Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N (auto: a GPU if there is one).")]


def export(
    out: Annotated[Path, typer.Option(help="Results directory of a run.")] = Path("results"),
    grid: Annotated[str, typer.Option(help="The grid that made the results (shipped name or TOML file).")] = "quick",
    cells: Annotated[Optional[list[str]], typer.Option(
        help="Only cells whose description holds all these words, e.g. --cells pgd --cells 8/255.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="png | jpeg (images), mp4 (clips, lossless).")] = "png",
    quality: Annotated[int, typer.Option(help="JPEG quality of --format jpeg (1-100).")] = 95,
    to: Annotated[Optional[Path], typer.Option(help="Folder for the files and manifest.json "
                                                    "\\[default: OUT/export].")] = None,
    device: Device = "auto",
    cache: Cache = None,
    verbose: Verbose = False,
) -> None:
    """Write a run's adversarial examples as real 8-bit files with a manifest.

    The cells are crafted again (same grid, weights and seeds) and checked against the stored scores.
    """
    from .adversarial_files.export import export_results
    from .adversarial_files.media import FORMATS
    from .benchmark.grid import load_grid
    from .benchmark.store import Store
    from .device import resolve_device

    setup_logging(verbose)
    if fmt not in FORMATS:
        raise DfbenchError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    integer(quality, "--quality", 1, 100)
    target, store_path = folder_to_write(to or out / "export", "--to"), out / "results.sqlite"
    if not store_path.is_file():
        raise DfbenchError(f"no results store in {out} (run `dfbench run --out {out}` first)")
    spec = load_grid(grid)
    store = Store(store_path)
    try:
        summary = export_results(spec, store, cache_folder(cache), target, fmt, cells or [], quality,
                                 resolve_device(device))
    finally:
        store.close()
    typer.echo(f"{summary.files} files of {len(summary.cells)} cell(s) in {target}"
               + (f"; {len(summary.not_reproduced)} cell(s) not reproduced, not written: "
                  + "; ".join(summary.not_reproduced) if summary.not_reproduced else ""))
    if summary.not_reproduced:
        raise typer.Exit(1)


def score(
    folder: Annotated[Path, typer.Argument(help="A folder of adversarial files with a manifest.json.")],
    detector: Annotated[Optional[str], typer.Option(help="A registered detector (trained from the cache on "
                                                         "the manifest's data, as a grid trains it).")] = None,
    model: Model = None,
    weights: Weights = None,
    out: Annotated[Optional[Path], typer.Option(help="Results directory for the records "
                                                     "\\[default: FOLDER/results].")] = None,
    data_root: Annotated[Optional[Path], typer.Option(help="The clean dataset's folder on disk (datasets of "
                                                           "files).")] = None,
    device: Device = "auto",
    cache: Cache = None,
    verbose: Verbose = False,
) -> None:
    """Re-score a folder of adversarial files against the clean set its manifest names.

    The files may be made by dfbench export, ART or by hand; the records are a run's, for `dfbench submit`.
    """
    from .adversarial_files.manifest import read_manifest
    from .adversarial_files.score import grid_doc, score_folder
    from .benchmark.grid import parse_grid
    from .benchmark.overrides import one_detector, one_detector_name, override
    from .benchmark.store import Store
    from .device import resolve_device
    from .leaderboards.report import check_results_folder, results_tables

    setup_logging(verbose)
    if not folder.is_dir():
        raise DfbenchError(f"{folder} is not a folder")
    manifest = read_manifest(folder)
    name = one_detector_name(detector, model)
    spec = one_detector(parse_grid(grid_doc(manifest, name), f"{folder}/manifest.json"), detector, model, weights)
    if data_root is not None:
        spec = override(spec, data_root=data_root)
    results = out or folder / "results"
    check_results_folder(results)
    store = Store(results / "results.sqlite")
    try:
        summary = score_folder(folder, spec, store, cache_folder(cache), resolve_device(device))
        text, paths = results_tables(store, results)
    finally:
        store.close()
    typer.echo(text)
    empty = f" {len(summary.empty)} cell(s) had no usable file and were not stored: {'; '.join(summary.empty)}." \
        if summary.empty else ""
    typer.echo(f"\n{summary.cells} cell(s) scored from {summary.files} files; {len(summary.skipped)} file(s) "
               f"skipped{' (warnings above; their cells are flagged files_skipped)' if summary.skipped else ''}."
               f"{empty} Store: {store.path}")
    if not summary.cells and summary.empty:
        raise typer.Exit(1)
