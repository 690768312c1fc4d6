"""`dfbench check`: a CI gate that re-runs a seeded grid and compares it with a baseline.

Every accuracy is a proportion over n samples, so the tolerance is statistical: a number
fails when the new value falls below the lower end of the Wilson score interval of the
baseline's count (at ``confidence``, default 95%), or when McNemar's exact test on the paired
per-sample outcomes (the same seeded samples; ``paired.py``) finds a drop at that confidence.
A number the new run lacks, a changed sample count, dataset or weights (saying whether the
detectors' code fingerprint changed too), and a sanity flag the baseline did not have fail too.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..benchmark.driver import run_grid
from ..benchmark.grid import GRIDS_DIR, Grid, load_grid, resolve_grid_path
from ..benchmark.overrides import override
from ..benchmark.prepare import checkpoints_fingerprint
from ..benchmark.store import Store
from ..benchmark.workload import Progress
from ..errors import DfbenchError
from ..metrics.intervals import wilson
from ..safe_files import read_json
from .entry import SCHEMA_VERSION, EntryError, entries_from_store, validate_entry, write_json
from .paired import Outcomes, cell_name, entry_label, mcnemar, outcomes, robust_name

BASELINE_KIND = "dfbench-baseline"


@dataclass(frozen=True)
class Finding:
    """One compared number (or one structural difference) between baseline and new run."""

    entry: str
    metric: str
    baseline: float | None
    new: float | None
    lower: float | None  # the lowest new value that still passes
    n: int
    failed: bool
    reason: str = ""
    paired: tuple[int, int, float] | None = None  # McNemar: samples lost, gained, one-sided p

    def line(self, confidence: float) -> str:
        if self.reason:
            return f"FAIL {self.entry}: {self.metric}: {self.reason}"
        verdict = "FAIL" if self.failed else "ok  "
        paired = (f"; McNemar exact: {self.paired[0]} lost, {self.paired[1]} gained, p={self.paired[2]:.3g}"
                  if self.paired else "")
        return (f"{verdict} {self.entry}: {self.metric} {self.baseline:.3f} -> {self.new:.3f} "
                f"(allowed >= {self.lower:.3f}, Wilson {confidence:.0%} on n={self.n}{paired})")


def wilson_lower(k: int, n: int, confidence: float) -> float:
    """Lower end of the Wilson score interval for k successes in n trials."""
    ci = wilson(k, n, confidence)
    return ci[0] if ci is not None else 0.0  # n = 0 does not occur: entries have samples


def _numbers(entry: dict) -> dict[str, tuple[float, int]]:
    """metric name -> (accuracy, n): clean accuracy, worst-case robust accuracy, every cell."""
    n = entry["dataset"]["n_samples"]
    out = {"clean acc": (entry["clean"]["acc"], n)}
    for r in entry["robust"]:
        out[robust_name(r["norm"], r["eps"], r["attack_mode"])] = (r["robust_acc"], r["n"])
    for c in entry["cells"]:
        name = cell_name(c["attack"], c["backend"], c["params"], c["norm"], c["eps"], c["attack_mode"])
        out[name] = (c["adv_acc"], n)
    return out


def _label(entry: dict) -> str:
    return entry_label(entry["detector"], entry["training"], entry["defenses"], entry.get("channel", ""))


def _key(entry: dict) -> tuple:
    return entry["detector"], entry["training"], entry["defenses"], entry.get("channel", ""), entry["dataset"]["name"]


@dataclass(frozen=True)
class Run:
    """One side of a comparison: its entries, per-sample outcomes and checkpoint cache key (either may be
    missing from a baseline of an older format)."""

    entries: list[dict]
    outcomes: Outcomes | None = None
    cache_key: str | None = None


def _weights_changed(base: dict, run: dict, baseline: Run, new: Run) -> str:
    why = ("; the detectors' code, arguments or data changed too (cache key differs)"
           if baseline.cache_key and new.cache_key and baseline.cache_key != new.cache_key else
           "; same code, arguments and data: training is not reproducible here" if baseline.cache_key else "")
    return f"the weights changed (sha256 {base['weights_sha256'][:12]} -> {run['weights_sha256'][:12]}){why}"


def compare(baseline: list[dict] | Run, new: list[dict] | Run, confidence: float = 0.95) -> list[Finding]:
    """Every number of ``baseline`` against ``new``; entries match by detector, defenses and dataset.
    With both sides' per-sample outcomes, each number also gets McNemar's exact paired test."""
    baseline = baseline if isinstance(baseline, Run) else Run(baseline)
    new = new if isinstance(new, Run) else Run(new)
    found = {_key(e): e for e in new.entries}
    findings = []
    for base in baseline.entries:
        label = _label(base)
        run = found.get(_key(base))
        if run is None:
            findings.append(Finding(label, "entry", None, None, None, 0, True, "missing from the new run"))
            continue
        if run["dataset"]["fingerprint"] != base["dataset"]["fingerprint"]:
            findings.append(Finding(label, "dataset", None, None, None, 0, True,
                                    "the dataset's fingerprint changed (different samples)"))
            continue
        if run["weights_sha256"] != base["weights_sha256"]:
            findings.append(Finding(label, "weights", None, None, None, 0, True,
                                    _weights_changed(base, run, baseline, new)))
        for flag in sorted(set(run["flags"]) - set(base["flags"])):
            findings.append(Finding(label, "sanity flags", None, None, None, 0, True, f"new flag {flag}"))
        new_numbers = _numbers(run)
        before = (baseline.outcomes or {}).get(label, {})
        after = (new.outcomes or {}).get(label, {})
        for metric, (value, n) in _numbers(base).items():
            if metric not in new_numbers:
                findings.append(Finding(label, metric, value, None, None, n, True, "not measured by the new run"))
                continue
            got, got_n = new_numbers[metric]
            if got_n != n:
                findings.append(Finding(label, metric, value, got, None, n, True, f"n changed {n} -> {got_n}"))
                continue
            lower = wilson_lower(round(value * n), n, confidence)
            paired = mcnemar(before[metric], after[metric]) if metric in before and metric in after else None
            dropped = paired is not None and paired[2] < 1 - confidence
            findings.append(Finding(label, metric, value, got, lower, n, got < lower - 1e-12 or dropped,
                                    paired=paired))
    return findings


def read_baseline(path: Path) -> dict:
    if not Path(path).exists():
        raise EntryError(f"no baseline at {path}; create it with `dfbench check --baseline {path} --update`")
    try:
        baseline = read_json(path, "baseline")
    except DfbenchError as exc:
        raise EntryError(str(exc)) from None
    if not isinstance(baseline, dict) or baseline.get("kind") != BASELINE_KIND or \
            not isinstance(baseline.get("entries"), list) or not baseline["entries"] or \
            not all(isinstance(baseline.get(k), str) and baseline[k] for k in ("grid", "grid_sha256")):
        raise EntryError(f"{path}: not a dfbench baseline (expected kind {BASELINE_KIND!r}, grid, grid_sha256 "
                         "and a list of entries)")
    for i, entry in enumerate(baseline["entries"]):
        if isinstance(entry, dict) and entry.get("schema_version") != SCHEMA_VERSION:
            raise EntryError(f"{path}: a baseline of entry format {entry.get('schema_version')!r} (this dfbench writes "
                             f"{SCHEMA_VERSION}); re-baseline it with `dfbench check --baseline {path} --update`")
        validate_entry(entry, f"{path} entry {i}")
    _check_outcomes(path, baseline)
    return baseline


def _check_outcomes(path: Path, baseline: dict) -> None:
    """Per-sample outcomes, where a baseline has them: one 0/1 string per number, one digit per sample."""
    outcomes, key = baseline.get("outcomes"), baseline.get("cache_key")
    sizes = {_label(e): e["dataset"]["n_samples"] for e in baseline["entries"]}
    well_formed = outcomes is None or (isinstance(outcomes, dict) and all(
        label in sizes and isinstance(numbers, dict) and all(
            isinstance(v, str) and len(v) == sizes[label] and set(v) <= {"0", "1"} for v in numbers.values())
        for label, numbers in outcomes.items()))
    if not well_formed or not (key is None or isinstance(key, str)):
        raise EntryError(f"{path}: its per-sample outcomes or cache key are malformed (one 0/1 string per number, "
                         f"one digit per sample); re-baseline it with `dfbench check --baseline {path} --update`")


def portable_grid(grid: str) -> str:
    """A shipped grid's name as it is; a grid file's path relative to the working directory (the
    repository, where CI runs) when it lies below it, so a baseline works in any clone."""
    path = resolve_grid_path(grid).resolve()
    if path.parent == GRIDS_DIR.resolve():
        return path.stem
    cwd = Path.cwd().resolve()
    return os.path.relpath(path, cwd) if path.is_relative_to(cwd) else str(path)


def write_baseline(path: Path, grid: str, grid_sha256: str, run: Run) -> None:
    """Write the baseline atomically (a failed write keeps the old one)."""
    write_json(Path(path), {"kind": BASELINE_KIND, "grid": grid, "grid_sha256": grid_sha256, "entries": run.entries,
                            "outcomes": run.outcomes, "cache_key": run.cache_key})


@dataclass(frozen=True)
class CheckResult:
    grid: str
    cells: int
    entries: int
    findings: list[Finding]  # empty after an update

    @property
    def failed(self) -> list[Finding]:
        return [f for f in self.findings if f.failed]


@dataclass(frozen=True)
class CheckPlan:
    """A validated `dfbench check`: the grid to re-run and the baseline to compare with (None: update)."""

    baseline_path: Path
    grid_name: str
    grid: Grid
    baseline: dict | None
    update: bool
    confidence: float
    out: Path | None


def plan_check(baseline: Path, grid: str | None = None, update: bool = False, confidence: float = 0.95,
               out: Path | None = None, models: list[str] | None = None, weights: Path | None = None) -> CheckPlan:
    """Every check of a `dfbench check` before any compute: options, the baseline, the grid
    (its detectors replaced by ``models``, file.py:factory, with ``weights``, when given)."""
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
    spec = override(load_grid(grid_name), models=models, weights=weights)
    if base and not update and spec.sha256 != base["grid_sha256"]:
        raise DfbenchError(f"grid {grid_name} is not the one the baseline was made with (sha256 {spec.sha256[:12]}... "
                           f"vs {base['grid_sha256'][:12]}...); re-baseline with --update")
    return CheckPlan(baseline, grid_name, spec, base, update, confidence, out)


def run_check(plan: CheckPlan, cache_dir: Path, progress: Progress | None = None) -> CheckResult:
    """Re-run the plan's seeded grid into a fresh store and compare every number with the
    baseline; with ``update``, rewrite the baseline from the re-run instead."""
    out = plan.out
    with tempfile.TemporaryDirectory(prefix="dfbench-check-") as tmp:
        store = Store((out or Path(tmp)) / "results.sqlite")
        try:
            summary = run_grid(plan.grid, store, cache_dir, progress)
            if summary.failed:
                raise DfbenchError(f"{summary.failed} of {summary.total} cells failed; see {store.path}" if out else
                                   f"{summary.failed} of {summary.total} cells failed (rerun with --out DIR to keep "
                                   "the errors)")
            run = Run(entries_from_store(store, flags_allowed=True), outcomes(store.records(), store.samples()),
                      checkpoints_fingerprint(plan.grid))
        finally:
            store.close()
    if plan.update or plan.baseline is None:
        write_baseline(plan.baseline_path, portable_grid(plan.grid_name), plan.grid.sha256, run)
        return CheckResult(plan.grid_name, summary.total, len(run.entries), [])
    base = Run(plan.baseline["entries"], plan.baseline.get("outcomes"), plan.baseline.get("cache_key"))
    return CheckResult(plan.grid_name, summary.total, len(run.entries), compare(base, run, plan.confidence))
