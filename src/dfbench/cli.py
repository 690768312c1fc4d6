"""The `dfbench` command line: run | train | list | table | submit | leaderboard build | check."""

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
    dataset: Annotated[Optional[str], typer.Option(help="Run on this dataset instead of the grid's (e.g. ffpp, "
                                                        "dfdc, celebdf, faces140k, folder, mini_video).")] = None,
    data_root: Annotated[Optional[Path], typer.Option(help="The dataset's folder on disk (its own layout).")] = None,
    executor: Annotated[str, typer.Option(help="local (this process, or --workers processes) | ray.")] = "local",
    workers: Annotated[Optional[int], typer.Option(help="Worker processes (local) or concurrent Ray tasks "
                                                        "[default: 1 local, all CPUs for ray].")] = None,
    address: Annotated[Optional[str], typer.Option(help="Ray cluster address [default: a local Ray "
                                                        "instance].")] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N (auto: a GPU if there is one).")] = "auto",
    precision: Annotated[Optional[str], typer.Option(help="float32 | bfloat16: detectors under autocast "
                                                          "[default: the grid's, float32].")] = None,
    cache: Cache = None,
    verbose: Verbose = False,
) -> None:
    """Run a grid of detector x attack x epsilon; resumes where a previous run stopped."""
    from .benchmark.grid import DetectorSpec, load_grid
    from .benchmark.store import Store

    _setup_logging(verbose)
    spec = load_grid(grid)
    if detector:
        from .detectors import detectors
        for name in detector:
            detectors.get(name)
        spec = replace(spec, detectors=tuple(DetectorSpec(n) for n in dict.fromkeys(detector)))
    if dataset is not None or data_root is not None:
        spec = _with_data(spec, dataset, data_root)
    if precision is not None:
        from .detectors.autocast import PRECISIONS
        if precision not in PRECISIONS:
            raise DfbenchError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}"
                               + (" (float16 flushes small input gradients to zero: attacks would stall)"
                                  if precision == "float16" else ""))
        spec = replace(spec, precision=precision)
    if max_samples is not None:
        if max_samples < 1:
            raise DfbenchError(f"--max-samples must be >= 1, got {max_samples}")
        spec = replace(spec, max_samples=max_samples)
    from .device import resolve_device

    target = resolve_device(device)
    runner = _executor(executor, workers, address)
    store = Store(out / "results.sqlite")
    try:
        summary = _run_with_progress(spec, store, cache or default_cache(), runner, target)
        paths = _print_tables(store, out)
    finally:
        store.close()
    skipped = f" {summary.inputs_skipped} input file(s) skipped (warnings above)." if summary.inputs_skipped else ""
    typer.echo(f"\n{summary.total} cells: {summary.ran} run, {summary.skipped} already done, "
               f"{summary.failed} failed.{skipped} Store: {store.path}"
               + (f"; tables: {', '.join(map(str, paths))}" if paths else ""))
    if summary.failed:
        raise typer.Exit(1)


def _with_data(spec, dataset: Optional[str], root: Optional[Path]):
    """The grid on another dataset (its own parameters dropped) and/or another data root."""
    from .data import datasets

    params = dict(spec.data_params) if dataset in (None, spec.dataset) else {}
    if root is not None:
        params["root"] = str(root)
    name = dataset or spec.dataset
    datasets.get(name)
    return replace(spec, dataset=name, data_params=params)


def _executor(kind: str, workers: Optional[int], address: Optional[str]):
    """The executor the options name; None means run in this process."""
    from .benchmark.executors import Processes, RayExecutor

    if workers is not None and workers < 1:
        raise DfbenchError(f"--workers must be >= 1, got {workers}")
    if kind == "ray":
        return RayExecutor(address=address, workers=workers)
    if kind != "local":
        raise DfbenchError(f"--executor must be local or ray, got {kind!r}")
    if address is not None:
        raise DfbenchError("--address is for --executor ray")
    return Processes(workers) if workers and workers > 1 else None


def _run_with_progress(spec, store, cache: Path, executor=None, device=None):
    """run_grid with a progress bar over the cells on stderr."""
    from tqdm import tqdm

    from .benchmark.runner import run_grid

    with tqdm(total=len(spec.cells()), desc="cells", unit="cell", file=sys.stderr) as bar:
        def progress(n: int, desc: str) -> None:
            bar.set_postfix_str(desc, refresh=False)
            bar.update(n)

        return run_grid(spec, store, cache, progress, executor, *([device] if device is not None else []))


@app.command()
@user_errors
def explain(
    detector: Annotated[str, typer.Argument(help="A registered image detector.")],
    grid: Annotated[str, typer.Option(help="The grid whose data and checkpoint to use.")] = "quick",
    attack: Annotated[str, typer.Option(help="The attack to explain (a registered attack).")] = "pgd",
    eps: Annotated[str, typer.Option(help="Its budget, e.g. 8/255.")] = "8/255",
    steps: Annotated[Optional[int], typer.Option(help="Its steps [default: the attack's].")] = None,
    n: Annotated[int, typer.Option(help="Explain the first N samples of the grid's split.")] = 8,
    layer: Annotated[Optional[str], typer.Option(help="Conv layer name [default: the last Conv2d].")] = None,
    out: Annotated[Path, typer.Option(help="Folder for the PNGs.")] = Path("results/explain"),
    cache: Cache = None,
    verbose: Verbose = False,
) -> None:
    """Grad-CAM heatmaps, clean vs adversarial side by side: one PNG per sample."""
    from .benchmark.grid import load_grid, parse_eps
    from .explain import explain as run_explain

    _setup_logging(verbose)
    if n < 1:
        raise DfbenchError(f"--n must be >= 1, got {n}")
    spec = load_grid(grid)
    params = {"steps": steps} if steps is not None else {}
    paths = run_explain(detector, spec, cache or default_cache(), out, attack, parse_eps(eps, "--eps"), n, layer,
                        **params)
    typer.echo(f"{len(paths)} heatmap panel(s) in {out}")


@app.command()
@user_errors
def pipeline(
    detector: Annotated[str, typer.Argument(help="A registered detector (trained as `run` trains it).")],
    grid: Annotated[str, typer.Option(help="The grid whose data settings and checkpoint to use.")] = "quick",
    dataset: Annotated[Optional[str], typer.Option(help="A dataset of files (ffpp, dfdc, celebdf, folder...).")] = None,
    data_root: Annotated[Optional[Path], typer.Option(help="The dataset's folder on disk.")] = None,
    attack: Annotated[str, typer.Option(help="The attack on the full frames.")] = "pgd",
    eps: Annotated[str, typer.Option(help="L-inf budget per frame, e.g. 8/255.")] = "8/255",
    steps: Annotated[Optional[int], typer.Option(help="The attack's steps [default: the attack's].")] = None,
    n: Annotated[int, typer.Option(help="Attack the first N samples of the grid's split.")] = 20,
    cache: Cache = None,
    verbose: Verbose = False,
) -> None:
    """Attack the whole pipeline: perturb full frames before MTCNN and count how often the face
    detector is thrown off, next to the detector's accuracy with fixed and re-detected crops."""
    from .benchmark.grid import load_grid, parse_eps
    from .benchmark.pipeline import pipeline_on_grid

    _setup_logging(verbose)
    if n < 1:
        raise DfbenchError(f"--n must be >= 1, got {n}")
    spec = load_grid(grid)
    if dataset is not None or data_root is not None:
        spec = _with_data(spec, dataset, data_root)
    params = {"steps": steps} if steps is not None else {}
    result = pipeline_on_grid(detector, spec, cache or default_cache(), attack, parse_eps(eps, "--eps"), n, **params)
    for key, value in result.summary().items():
        typer.echo(f"{key:>20}: {value:.3f}" if isinstance(value, float) else f"{key:>20}: {value}")


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


Root = Annotated[Path, typer.Option("--leaderboards", help="Leaderboard root: entries in <root>/<dataset>/*.json.")]


def _find_weights(sha256: str, cache: Path) -> Path | None:
    """The checkpoint in ``cache`` whose card names ``sha256`` (the hash is re-checked by the caller)."""
    from .train.checkpoint import read_card

    for path in sorted(cache.rglob("*.safetensors")) if cache.is_dir() else ():
        card = read_card(path)
        if card is not None and card.sha256 == sha256:
            return path
    return None


def _check_weights(entry: dict, weights: Optional[Path], cache: Path, root: Path) -> None:
    """The weights the entry was computed with must exist and hash to its weights_sha256."""
    from .train.checkpoint import sha256_file

    path = weights or _find_weights(entry["weights_sha256"], cache)
    if path is None:
        raise DfbenchError(f"{entry['detector']}: no weights with sha256 {entry['weights_sha256'][:12]}... in {cache}; "
                           "pass --weights PATH")
    if not path.is_file():
        raise DfbenchError(f"--weights {path}: no such file")
    digest = sha256_file(path)
    if digest != entry["weights_sha256"]:
        raise DfbenchError(f"--weights {path} has sha256 {digest[:12]}..., but {entry['detector']} was evaluated "
                           f"with {entry['weights_sha256'][:12]}...")
    folder = (root / entry["dataset"]["name"]).resolve()
    if path.resolve().is_relative_to(root.resolve()):  # publishable with the leaderboard: name it
        entry["weights_file"] = os.path.relpath(path.resolve(), folder)


@app.command()
@user_errors
def submit(
    out: Annotated[Path, typer.Option(help="Results directory of a `dfbench run`.")] = Path("results"),
    root: Root = Path("leaderboards"),
    detector: Annotated[Optional[list[str]], typer.Option(help="Submit these detectors only.")] = None,
    name: Annotated[Optional[str], typer.Option(help="Entry name (file stem), when one entry is submitted.")] = None,
    weights: Annotated[Optional[Path], typer.Option(help="The weights file evaluated [default: found in the "
                                                         "checkpoint cache by its sha256].")] = None,
    allow_flags: Annotated[bool, typer.Option(help="Submit despite sanity flags; the flags stay on the entry.")] = False,
    replace: Annotated[bool, typer.Option(help="Overwrite an entry of the same name.")] = False,
    cache: Cache = None,
) -> None:
    """Write leaderboard entries (one JSON per detector and defense) from a run's results."""
    from .benchmark.store import Store
    from .leaderboards.entry import check_new_entry, entries_from_store, safe_name, write_entry

    path = out / "results.sqlite"
    if not path.is_file():
        raise DfbenchError(f"no results store at {path}; run `dfbench run --out {out}` first")
    entries = entries_from_store(Store(path), flags_allowed=allow_flags)
    if detector:
        entries = [e for e in entries if e["detector"] in detector]
    if not entries:
        raise DfbenchError(f"{path} holds no finished cells" + (f" of {', '.join(detector)}" if detector else ""))
    if name is not None:
        if len(entries) != 1:
            raise DfbenchError(f"--name names one entry, but {len(entries)} would be submitted; select one with "
                               "--detector")
        entries[0]["name"] = safe_name(name, "--name")
    for entry in entries:  # every check before the first write: all entries or none
        if entry["flags"] and not allow_flags:
            raise DfbenchError(f"{entry['name']} has sanity flags ({', '.join(entry['flags'])}); fix the detector or "
                               "pass --allow-flags (the flags stay on the entry)")
        _check_weights(entry, weights, cache or default_cache(), root)
        check_new_entry(root, entry, replace=replace)
    for entry in entries:
        typer.echo(f"wrote {write_entry(root, entry, replace=replace)}")


leaderboard_app = typer.Typer(no_args_is_help=True, help="Build the leaderboard from its entries.")
app.add_typer(leaderboard_app, name="leaderboard")


@leaderboard_app.command("build")
@user_errors
def leaderboard_build(root: Root = Path("leaderboards")) -> None:
    """Validate every entry, then write tables, plots and the static site to <root>/site."""
    from .leaderboards import leaderboard, to_markdown
    from .leaderboards.build import build

    site, entries = build(root)
    typer.echo(to_markdown(leaderboard(entries)))
    typer.echo(f"\n{len(entries)} entries -> {site / 'index.html'}")


@app.command()
@user_errors
def check(
    baseline: Annotated[Path, typer.Option(help="Baseline JSON written by `dfbench check --update`.")],
    grid: Annotated[Optional[str], typer.Option(help="Grid to re-run [default: the baseline's].")] = None,
    update: Annotated[bool, typer.Option(help="Re-run and rewrite the baseline instead of comparing.")] = False,
    confidence: Annotated[float, typer.Option(help="Confidence of the Wilson interval around each "
                                                   "baseline number.")] = 0.95,
    out: Annotated[Optional[Path], typer.Option(help="Keep the re-run's results here [default: a temporary "
                                                     "folder].")] = None,
    cache: Cache = None,
    verbose: Verbose = False,
) -> None:
    """Re-run a seeded grid and fail when a robust accuracy drops beyond sampling noise."""
    import tempfile

    from .benchmark.grid import load_grid
    from .benchmark.store import Store
    from .leaderboards.check import compare, read_baseline, write_baseline
    from .leaderboards.entry import entries_from_store

    _setup_logging(verbose)
    if not 0.5 <= confidence < 1:
        raise DfbenchError(f"--confidence must be in [0.5, 1), got {confidence}")
    if update:  # the existing baseline only suggests the grid; a broken one is simply replaced
        try:
            base = read_baseline(baseline) if baseline.exists() else None
        except DfbenchError:
            base = None
    else:
        base = read_baseline(baseline)
    if out is not None and (out / "results.sqlite").exists():
        raise DfbenchError(f"{out / 'results.sqlite'} exists; `check` re-runs into a new folder (a resumed store would "
                           "compare old numbers)")
    grid_name = grid or (base["grid"] if base else "quick")
    spec = load_grid(grid_name)
    if base and not update and spec.sha256 != base["grid_sha256"]:
        raise DfbenchError(f"grid {grid_name} is not the one the baseline was made with (sha256 {spec.sha256[:12]}... "
                           f"vs {base['grid_sha256'][:12]}...); re-baseline with --update")
    with tempfile.TemporaryDirectory(prefix="dfbench-check-") as tmp:
        store = Store((out or Path(tmp)) / "results.sqlite")
        summary = _run_with_progress(spec, store, cache or default_cache())
        if summary.failed:
            raise DfbenchError(f"{summary.failed} of {summary.total} cells failed; see {store.path}"
                               if out else f"{summary.failed} of {summary.total} cells failed (rerun with --out DIR "
                                           "to keep the errors)")
        entries = entries_from_store(store, flags_allowed=True)
        store.close()
    if update:
        write_baseline(baseline, grid_name, spec.sha256, entries)
        typer.echo(f"baseline {baseline}: {len(entries)} entries from grid {grid_name} ({summary.total} cells)")
        return
    findings = compare(base["entries"], entries, confidence)
    failed = [f for f in findings if f.failed]
    for f in findings if verbose else failed:
        typer.echo(f.line(confidence))
    typer.echo(f"{len(findings)} numbers compared with {baseline}: {len(failed)} beyond tolerance")
    if failed:
        raise typer.Exit(1)


def _print_tables(store, out: Path) -> list[Path]:
    """Print the leaderboard (and the transfer matrix, if any) and write them next to the store."""
    from .leaderboards import entries_from_store, leaderboard, to_markdown, transfer_matrix, write_tables

    entries = entries_from_store(store)
    table = leaderboard(entries)
    if table.empty:
        typer.echo("(no results)")
        return []
    typer.echo(to_markdown(table))
    paths = write_tables(table, out)
    matrix = transfer_matrix(entries)
    if not matrix.empty:
        typer.echo("\nTransfer: robust accuracy of each target (columns) under examples crafted on a surrogate")
        typer.echo(to_markdown(matrix))
        paths += write_tables(matrix, out, stem="transfer")
    return paths


def main() -> None:
    app()
