"""The `dfbench` command line: run | train | list | table."""

from __future__ import annotations

import functools
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import DfbenchError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Adversarial-robustness benchmark for deepfake detectors.")
log = logging.getLogger("dfbench")


def default_cache() -> Path:
    """Trained checkpoints live here: $DFBENCH_CACHE, else ~/.cache/dfbench/checkpoints."""
    env = os.environ.get("DFBENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "dfbench" / "checkpoints"


def user_errors(fn):
    """Turn a DfbenchError into a one-line message and exit code 2 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DfbenchError as exc:
            typer.echo(f"dfbench: error: {exc}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("dfbench: interrupted; run the same command again to resume", err=True)
            raise typer.Exit(130) from None

    return wrapper


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s", stream=sys.stderr)
    for noisy in ("PIL", "matplotlib", "art"):  # ART logs every attack's success rate at INFO
        logging.getLogger(noisy).setLevel(logging.WARNING)


Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log every training epoch.")]
Cache = Annotated[Optional[Path], typer.Option(help="Checkpoint cache [default: $DFBENCH_CACHE or "
                                                    "~/.cache/dfbench/checkpoints].")]


@app.command()
@user_errors
def run(
    grid: Annotated[str, typer.Option(help="A shipped grid (quick, full) or a TOML file.")] = "quick",
    out: Annotated[Path, typer.Option(help="Results directory (SQLite store and tables).")] = Path("results"),
    detector: Annotated[Optional[list[str]], typer.Option(help="Run these detectors instead of the grid's.")] = None,
    max_samples: Annotated[Optional[int], typer.Option(help="Evaluate the first N samples only.")] = None,
    cache: Cache = None,
    verbose: Verbose = False,
) -> None:
    """Run a grid of detector x attack x epsilon; resumes where a previous run stopped."""
    from tqdm import tqdm

    from .benchmark.grid import load_grid
    from .benchmark.runner import run_grid
    from .benchmark.store import Store
    from .benchmark.grid import DetectorSpec

    _setup_logging(verbose)
    spec = load_grid(grid)
    if detector:
        from .detectors import detectors
        for name in detector:
            detectors.get(name)
        spec = replace(spec, detectors=tuple(DetectorSpec(n) for n in dict.fromkeys(detector)))
    if max_samples is not None:
        if max_samples < 1:
            raise DfbenchError(f"--max-samples must be >= 1, got {max_samples}")
        spec = replace(spec, max_samples=max_samples)
    store = Store(out / "results.sqlite")
    with tqdm(total=len(spec.cells()), desc="cells", unit="cell", file=sys.stderr) as bar:
        def progress(n: int, desc: str) -> None:
            bar.set_postfix_str(desc, refresh=False)
            bar.update(n)

        summary = run_grid(spec, store, cache or default_cache(), progress)
    paths = _print_tables(store, out)
    typer.echo(f"\n{summary.total} cells: {summary.ran} run, {summary.skipped} already done, "
               f"{summary.failed} failed. Store: {store.path}" + (f"; tables: {', '.join(map(str, paths))}" if paths else ""))
    if summary.failed:
        raise typer.Exit(1)


@app.command()
@user_errors
def train(
    detector: Annotated[str, typer.Argument(help="A registered detector name.")],
    dataset: Annotated[str, typer.Option(help="A registered dataset.")] = "mini",
    image_size: Annotated[int, typer.Option(help="Square input size.")] = 64,
    seed: int = 0,
    epochs: Annotated[int, typer.Option(help="Most epochs; early stopping on val loss may end sooner.")] = 40,
    adv: Annotated[Optional[str], typer.Option(help="Adversarial training with this attack: fgsm | pgd.")] = None,
    eps: Annotated[str, typer.Option(help="L-inf budget of the training attack, e.g. 8/255.")] = "8/255",
    adv_ratio: Annotated[float, typer.Option(help="Share of each batch replaced by adversarial examples.")] = 0.5,
    adv_steps: Annotated[int, typer.Option(help="PGD steps of the training attack.")] = 7,
    distill: Annotated[Optional[float], typer.Option(help="Defensive distillation at this temperature.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Weights file [default: the cache path `run` uses].")] = None,
    cache: Cache = None,
    verbose: Verbose = False,
) -> None:
    """Train a detector from scratch; writes safetensors weights and a JSON card.

    With --adv or --distill it trains a training-time defense into a tagged checkpoint that a
    grid selects with `training = { adv = "pgd", adv_eps = "8/255" }` (or `temperature = T`).
    """
    from .benchmark.grid import parse_eps
    from .data import datasets
    from .detectors import detectors
    from .train import cache_path, train_detector
    from .train.trained import checkpoint_tag, training_config

    _setup_logging(verbose)
    detectors.get(detector)
    datasets.get(dataset)
    if epochs < 1:
        raise DfbenchError(f"--epochs must be >= 1, got {epochs}")
    training = {k: v for k, v in {"epochs": epochs if epochs != 40 else None, "adv": adv,
                                  "temperature": distill}.items() if v is not None}
    if adv is not None:
        training.update(adv_eps=parse_eps(eps, "--eps"), adv_ratio=adv_ratio, adv_steps=adv_steps)
    try:
        config = training_config(training, seed)
    except (TypeError, ValueError) as exc:
        raise DfbenchError(str(exc)) from None
    path = out or cache_path(cache or default_cache(), detector, dataset, image_size, seed, checkpoint_tag({}, config))
    card = train_detector(detector, dataset, image_size, path, config)
    typer.echo(f"{detector}{' ' + card.training if card.training else ''}: val acc {card.val['acc']:.3f}, "
               f"AUC {card.val['auc']:.3f} (epoch {card.best_epoch} of {card.epochs_run}) -> {path}")


@app.command("list")
@user_errors
def list_components() -> None:
    """List the registered detectors, attacks, defenses and datasets, and the shipped grids."""
    from . import list_attacks, list_datasets, list_defenses, list_detectors
    from .benchmark.grid import GRIDS_DIR

    for kind, names in (("detectors", list_detectors()), ("attacks", list_attacks()),
                        ("defenses", list_defenses()), ("datasets", list_datasets()),
                        ("grids", sorted(p.stem for p in GRIDS_DIR.glob("*.toml")))):
        typer.echo(f"{kind}: {', '.join(names) if names else '(none registered)'}")


@app.command()
@user_errors
def table(out: Annotated[Path, typer.Option(help="Results directory of a run.")] = Path("results")) -> None:
    """Print (and rewrite) the leaderboard table of a results directory."""
    from .benchmark.store import Store

    path = out / "results.sqlite"
    if not path.is_file():
        raise DfbenchError(f"no results store at {path}; run `dfbench run --out {out}` first")
    if not _print_tables(Store(path), out):
        raise DfbenchError(f"{path} holds no finished cells")


def _print_tables(store, out: Path) -> list[Path]:
    """Print the leaderboard (and the transfer matrix, if any) and write them next to the store."""
    from .leaderboards import leaderboard, to_markdown, transfer_matrix, write_tables

    table = leaderboard(store)
    if table.empty:
        typer.echo("(no results)")
        return []
    typer.echo(to_markdown(table))
    paths = write_tables(table, out)
    matrix = transfer_matrix(store)
    if not matrix.empty:
        typer.echo("\nTransfer: robust accuracy of each target (columns) under examples crafted on a surrogate")
        typer.echo(to_markdown(matrix))
        paths += write_tables(matrix, out, stem="transfer")
    return paths


def main() -> None:
    app()
