"""The `dfbench` command line: run | train | list | table | submit | leaderboard build | check | export |
score | zoo (cli_zoo.py) | audit (cli_audit.py)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Optional

import typer

from .boundary import OneLineErrors, user_errors
from .cli_audit import audit, audit_views
from .cli_files import export, score
from .cli_options import Cache, Model, Verbose, Weights, cache_folder, setup_logging
from .cli_zoo import zoo_app
from .errors import DfbenchError
from .safe_files import file_to_write, folder_to_write
from .validate import integer

app = typer.Typer(cls=OneLineErrors, add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Adversarial-robustness benchmark for deepfake detectors.")
log = logging.getLogger("dfbench")


@app.command()
@user_errors
def run(
    grid: Annotated[str, typer.Option(help="A shipped grid (quick, standard, full, defenses, training, "
                                                   "video) or a TOML file.")] = "quick",
    out: Annotated[Path, typer.Option(help="Results directory (SQLite store and tables).")] = Path("results"),
    detector: Annotated[Optional[list[str]], typer.Option(help="Run these detectors instead of the grid's.")] = None,
    model: Model = None,
    weights: Weights = None,
    weights_dir: Annotated[Optional[Path], typer.Option(help="Run every zoo detector whose weights lie in this "
                                                              "folder (`dfbench zoo`), each at its own input size, "
                                                              "instead of the grid's detectors.")] = None,
    max_samples: Annotated[Optional[int], typer.Option(help="Evaluate the first N samples only.")] = None,
    dataset: Annotated[Optional[str], typer.Option(help="Run on this dataset instead of the grid's (e.g. ffpp, "
                                                        "dfdc, celebdf, faces140k, folder, mini_video).")] = None,
    data_root: Annotated[Optional[Path], typer.Option(help="The dataset's folder on disk (its own layout).")] = None,
    faces: Annotated[Optional[str], typer.Option(help="Face crops of a dataset of files: mtcnn | none (whole "
                                                      "frames) \\[default: the dataset's].")] = None,
    executor: Annotated[str, typer.Option(help="local (this process, or --workers processes) | ray.")] = "local",
    workers: Annotated[Optional[int], typer.Option(help="Worker processes (local) or concurrent Ray tasks "
                                                        "\\[default: 1 local, all CPUs for ray].")] = None,
    address: Annotated[Optional[str], typer.Option(help="Ray cluster address \\[default: a local Ray "
                                                        "instance].")] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N (auto: a GPU if there is one).")] = "auto",
    precision: Annotated[Optional[str], typer.Option(help="float32 | bfloat16: detectors under autocast "
                                                          "\\[default: the grid's, float32].")] = None,
    dry_run: Annotated[bool, typer.Option(help="List the cells and jobs with an estimated time (a short probe "
                                               "per detector view); run nothing.")] = False,
    audit_after: Annotated[bool, typer.Option("--audit", help="Then run the binarization test on every defended, "
                                                              "channel or trained view (<out>/audits.json; "
                                                              "`dfbench submit` shows it).")] = False,
    cache: Cache = None,
    verbose: Verbose = False,
) -> None:
    """Run a grid of detector x attack x epsilon; resumes where a previous run stopped."""
    from .benchmark.driver import run_grid
    from .benchmark.executors import make_executor
    from .benchmark.grid import load_grid, require_detectors
    from .benchmark.overrides import override, zoo_grids
    from .benchmark.store import Store
    from .benchmark.workload import progress_bar
    from .device import resolve_device
    from .leaderboards.report import check_results_folder, results_tables

    setup_logging(verbose)
    check_results_folder(out)
    if weights_dir is not None and (detector or model or weights):
        raise DfbenchError("--weights-dir chooses the detectors: give it without --detector, --model or --weights")
    spec = override(load_grid(grid), detector_names=detector, models=model, weights=weights, dataset=dataset,
                    data_root=data_root, faces=faces, precision=precision, max_samples=max_samples)
    specs, missing = zoo_grids(spec, weights_dir) if weights_dir is not None else ([require_detectors(spec)], [])
    for line in missing:
        typer.echo(f"not found: {line}", err=True)
    runner, target, cache = make_executor(executor, workers, address), resolve_device(device), cache_folder(cache)
    if dry_run:
        from .benchmark.estimate import estimate_grid

        for one in specs:
            typer.echo("\n".join(estimate_grid(one, cache, target).lines()))
        return
    store = Store(out / "results.sqlite")
    total = ran = done = failed = inputs_skipped = 0
    try:
        for one in specs:  # one pass per input size (--weights-dir); a plain run is one grid
            with progress_bar() as progress:
                summary = run_grid(one, store, cache, progress, runner, target)
            total, ran, done = total + summary.total, ran + summary.ran, done + summary.skipped
            failed, inputs_skipped = failed + summary.failed, inputs_skipped + summary.inputs_skipped
        text, paths = results_tables(store, out)
    finally:
        store.close()
    typer.echo(text)
    if audit_after:
        audit_views(specs, out, cache)
    skipped = f" {inputs_skipped} input file(s) skipped (warnings above)." if inputs_skipped else ""
    typer.echo(f"\n{total} cells: {ran} run, {done} already done, {failed} failed.{skipped} Store: {store.path}"
               + (f"; tables: {', '.join(map(str, paths))}" if paths else ""))
    if failed:
        raise typer.Exit(1)


@app.command()
@user_errors
def explain(
    detector: Annotated[Optional[str], typer.Argument(help="A registered image detector (or --model).")] = None,
    model: Model = None,
    weights: Weights = None,
    grid: Annotated[str, typer.Option(help="The grid whose data and checkpoint to use.")] = "quick",
    attack: Annotated[str, typer.Option(help="The attack to explain (a registered attack).")] = "pgd",
    eps: Annotated[str, typer.Option(help="Its budget, e.g. 8/255.")] = "8/255",
    steps: Annotated[Optional[int], typer.Option(help="Its steps \\[default: the attack's].")] = None,
    n: Annotated[int, typer.Option(help="Explain the first N samples of the grid's split.")] = 8,
    layer: Annotated[Optional[str], typer.Option(help="Conv layer name \\[default: the last Conv2d].")] = None,
    out: Annotated[Path, typer.Option(help="Folder for the PNGs.")] = Path("results/explain"),
    cache: Cache = None,
    verbose: Verbose = False,
) -> None:
    """Grad-CAM heatmaps, clean vs adversarial side by side: one PNG per sample."""
    from .benchmark.grid import load_grid, parse_eps
    from .benchmark.overrides import one_detector
    from .explain import explain as run_explain

    setup_logging(verbose)
    if n < 1:
        raise DfbenchError(f"--n must be >= 1, got {n}")
    folder_to_write(out, "--out")
    spec = one_detector(load_grid(grid), detector, model, weights)
    params = {"steps": steps} if steps is not None else {}
    paths = run_explain(spec.detectors[0].name, spec, cache_folder(cache), out, attack,
                        parse_eps(eps, "--eps"), n, layer, **params)
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
    steps: Annotated[Optional[int], typer.Option(help="The attack's steps \\[default: the attack's].")] = None,
    n: Annotated[int, typer.Option(help="Attack the first N samples of the grid's split.")] = 20,
    cache: Cache = None,
    verbose: Verbose = False,
) -> None:
    """Attack the whole pipeline: perturb full frames before MTCNN and count how often the face
    detector is thrown off, next to the detector's accuracy with fixed and re-detected crops."""
    from .benchmark.grid import load_grid, parse_eps
    from .benchmark.overrides import override
    from .benchmark.pipeline import pipeline_on_grid

    setup_logging(verbose)
    if n < 1:
        raise DfbenchError(f"--n must be >= 1, got {n}")
    spec = override(load_grid(grid), dataset=dataset, data_root=data_root)
    params = {"steps": steps} if steps is not None else {}
    result = pipeline_on_grid(detector, spec, cache_folder(cache), attack, parse_eps(eps, "--eps"), n,
                              **params)
    for key, value in result.summary().items():
        typer.echo(f"{key:>20}: {value:.3f}" if isinstance(value, float) else f"{key:>20}: {value}")


@app.command()
@user_errors
def train(
    detector: Annotated[Optional[str], typer.Argument(help="A registered detector name (or --model).")] = None,
    model: Model = None,
    dataset: Annotated[str, typer.Option(help="A registered dataset.")] = "mini",
    image_size: Annotated[int, typer.Option(help="Square input size.")] = 64,
    seed: int = 0,
    epochs: Annotated[int, typer.Option(help="Most epochs; early stopping on val loss may end sooner.")] = 40,
    adv: Annotated[Optional[str], typer.Option(help="Adversarial training with this attack: fgsm | pgd.")] = None,
    eps: Annotated[str, typer.Option(help="L-inf budget of the training attack, e.g. 8/255.")] = "8/255",
    adv_ratio: Annotated[float, typer.Option(help="Share of each batch replaced by adversarial examples.")] = 0.5,
    adv_steps: Annotated[int, typer.Option(help="PGD steps of the training attack.")] = 7,
    distill: Annotated[Optional[float], typer.Option(help="Defensive distillation at this temperature.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Weights file \\[default: the cache path `run` uses].")] = None,
    cache: Cache = None,
    verbose: Verbose = False,
) -> None:
    """Train a detector from scratch; writes safetensors weights and a JSON card.

    With --adv or --distill it trains a training-time defense into a tagged checkpoint that a
    grid selects with `training = { adv = "pgd", adv_eps = "8/255" }` (or `temperature = T`).
    """
    from .benchmark.grid import parse_eps
    from .benchmark.overrides import one_detector_name
    from .data import datasets
    from .train import train_into_cache

    setup_logging(verbose)
    detector = one_detector_name(detector, model)
    datasets.get(dataset)
    if out is not None:
        file_to_write(out, "--out")
    integer(epochs, "--epochs", lo=1)
    integer(seed, "--seed", 0, 2 ** 31 - 1)
    integer(image_size, "--image-size", 16, 1024)  # as a grid's [data] image_size
    training = {k: v for k, v in {"epochs": epochs if epochs != 40 else None, "adv": adv,
                                  "temperature": distill}.items() if v is not None}
    if adv is not None:
        training.update(adv_eps=parse_eps(eps, "--eps"), adv_ratio=adv_ratio, adv_steps=adv_steps)
    card, path = train_into_cache(detector, dataset, image_size, cache_folder(cache), seed, training, out)
    typer.echo(f"{detector}{' ' + card.training if card.training else ''}: val acc {card.val['acc']:.3f}, "
               f"AUC {card.val['auc']:.3f} (epoch {card.best_epoch} of {card.epochs_run}"
               f"{f', after {card.restarts} dead starts' if card.restarts else ''}) -> {path}")


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
    from .leaderboards.report import results_tables

    path = out / "results.sqlite"
    if not path.is_file():
        raise DfbenchError(f"no results store at {path}; run `dfbench run --out {out}` first")
    store = Store(path)
    try:
        text, paths = results_tables(store, out)
    finally:
        store.close()
    if not paths:
        raise DfbenchError(f"{path} holds no finished cells")
    typer.echo(text)


Root = Annotated[Path, typer.Option("--leaderboards", help="Leaderboard root: entries in <root>/<dataset>/*.json.")]


@app.command()
@user_errors
def submit(
    out: Annotated[Path, typer.Option(help="Results directory of a `dfbench run`.")] = Path("results"),
    root: Root = Path("leaderboards"),
    detector: Annotated[Optional[list[str]], typer.Option(help="Submit these detectors only.")] = None,
    name: Annotated[Optional[str], typer.Option(help="Entry name (file stem), when one entry is submitted.")] = None,
    weights: Annotated[Optional[Path], typer.Option(help="The weights file evaluated \\[default: found in the "
                                                         "checkpoint cache by its sha256].")] = None,
    allow_flags: Annotated[bool, typer.Option(help="Submit despite sanity flags; the flags stay on the "
                                                   "entry.")] = False,
    replace: Annotated[bool, typer.Option(help="Overwrite an entry of the same name.")] = False,
    cache: Cache = None,
) -> None:
    """Write leaderboard entries (one JSON per detector and defense) from a run's results."""
    from .leaderboards.submit import submit as submit_entries

    submitted = submit_entries(out, root, cache_folder(cache), detector, name, weights, allow_flags, replace)
    for path in submitted.written:
        typer.echo(f"wrote {path}")
    for line in submitted.skipped:
        typer.echo(f"skipped {line}; run `dfbench run --out {out}` with the same grid again to finish it", err=True)


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
    grid: Annotated[Optional[str], typer.Option(help="Grid to re-run \\[default: the baseline's].")] = None,
    update: Annotated[bool, typer.Option(help="Re-run and rewrite the baseline instead of comparing.")] = False,
    confidence: Annotated[float, typer.Option(help="Confidence of the Wilson interval around each "
                                                   "baseline number.")] = 0.95,
    out: Annotated[Optional[Path], typer.Option(help="Keep the re-run's results here \\[default: a temporary "
                                                     "folder].")] = None,
    model: Model = None,
    weights: Weights = None,
    cache: Cache = None,
    verbose: Verbose = False,
) -> None:
    """Re-run a seeded grid and fail when a robust accuracy drops beyond sampling noise."""
    from .benchmark.workload import progress_bar
    from .leaderboards.check import plan_check, run_check

    setup_logging(verbose)
    if update:
        file_to_write(baseline, "--baseline")
    plan = plan_check(baseline, grid, update, confidence, out, models=model, weights=weights)
    with progress_bar() as progress:
        result = run_check(plan, cache_folder(cache), progress)
    if update:
        typer.echo(f"baseline {baseline}: {result.entries} entries from grid {result.grid} ({result.cells} cells)")
        return
    for f in result.findings if verbose else result.failed:
        typer.echo(f.line(confidence))
    typer.echo(f"{len(result.findings)} numbers compared with {baseline}: {len(result.failed)} beyond tolerance")
    if result.failed:
        raise typer.Exit(1)


@app.command("cache-key")
@user_errors
def cache_key(grid: Annotated[str, typer.Option(help="A shipped grid or a TOML file.")] = "quick") -> None:
    """Print a digest of what the grid's trained checkpoints depend on (code, arguments, data): a CI cache key."""
    from .benchmark.grid import load_grid
    from .benchmark.prepare import checkpoints_fingerprint

    typer.echo(checkpoints_fingerprint(load_grid(grid)))


app.add_typer(zoo_app, name="zoo")
app.command("audit")(user_errors(audit))
app.command()(user_errors(export))
app.command()(user_errors(score))


def main() -> None:
    app()
