"""`dfbench audit`: the binarization test on every view of a grid's detectors (dfbench.audit)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .cli_options import Cache, Model, Verbose, Weights, cache_folder, setup_logging
from .errors import DfbenchError
from .safe_files import file_to_write


def audit(
    grid: Annotated[str, typer.Option(help="A shipped grid or a TOML file: its detectors, views and attacks.")],
    detector: Annotated[Optional[list[str]], typer.Option(help="Audit these detectors instead of the grid's.")] = None,
    model: Model = None,
    weights: Weights = None,
    norm: Annotated[str, typer.Option(help="linf | l2: the attacks audited.")] = "linf",
    eps: Annotated[Optional[str], typer.Option(help="The budget, e.g. 8/255 \\[default: the grid's largest of "
                                                    "--norm, the headline].")] = None,
    n: Annotated[int, typer.Option(help="Samples per view (the first ones each view classifies correctly).")] = 32,
    n_inner: Annotated[int, typer.Option(help="Inner points per sample (the paper: 999).")] = 999,
    out: Annotated[Optional[Path], typer.Option(help="Write the audits as JSON here.")] = None,
    cache: Cache = None,
    verbose: Verbose = False,
) -> None:
    """Could the attacks have succeeded? The binarization test (Zimmermann et al., NeurIPS 2022) per view."""
    from .audit.run import audit_grid, write_audits
    from .benchmark.grid import load_grid, parse_eps
    from .benchmark.overrides import override

    setup_logging(verbose)
    if norm not in ("linf", "l2"):
        raise DfbenchError(f"--norm must be linf or l2, got {norm!r}")
    for name, value, low in (("--n", n, 1), ("--n-inner", n_inner, 10)):
        if value < low:
            raise DfbenchError(f"{name} must be >= {low}, got {value}")
    if out is not None:
        file_to_write(out, "--out")
    spec = override(load_grid(grid), detector_names=detector, models=model, weights=weights)
    budget = parse_eps(eps, "--eps") if eps is not None else None
    audits = audit_grid(spec, cache_folder(cache), norm, budget, n, n_inner)
    for a in audits:
        typer.echo(a.line())
    if out is not None:
        write_audits(audits, out)
        typer.echo(f"audits: {out}")
    if any(a.result is not None and a.result.fails for a in audits):
        raise typer.Exit(1)


def audit_views(grids: list, out: Path, cache: Path) -> None:
    """`run --audit`: the binarization test on the hardened views of ``grids`` into ``out``/audits.json."""
    from .audit.run import audit_grid, write_audits
    from .leaderboards.audits import AUDITS_FILE

    audits = [a for grid in grids for a in audit_grid(grid, cache, hardened_only=True)]
    for a in audits:
        typer.echo(a.line())
    write_audits(audits, out / AUDITS_FILE)
    typer.echo(f"audits: {out / AUDITS_FILE} ({len(audits)} views)")
