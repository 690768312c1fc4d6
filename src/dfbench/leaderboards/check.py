"""`dfbench check`: a CI gate that re-runs a seeded grid and compares it with a baseline.

Every accuracy is a proportion over n samples, so the tolerance is statistical: a number
fails when the new value falls below the lower end of the Wilson score interval of the
baseline's count (at ``confidence``, default 95%). A number the new run lacks, a changed
sample count or dataset, and a sanity flag the baseline did not have fail too.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..benchmark.driver import run_grid
from ..benchmark.grid import GRIDS_DIR, Grid, load_grid, resolve_grid_path
from ..benchmark.overrides import override
from ..benchmark.store import Store
from ..benchmark.workload import Progress
from ..errors import DfbenchError
from ..metrics.intervals import wilson
from .entry import SCHEMA_VERSION, EntryError, entries_from_store, validate_entry, write_json
from .table import eps_label

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

    def line(self, confidence: float) -> str:
        if self.reason:
            return f"FAIL {self.entry}: {self.metric}: {self.reason}"
        verdict = "FAIL" if self.failed else "ok  "
        return (f"{verdict} {self.entry}: {self.metric} {self.baseline:.3f} -> {self.new:.3f} "
                f"(allowed >= {self.lower:.3f}, Wilson {confidence:.0%} on n={self.n})")


def wilson_lower(k: int, n: int, confidence: float) -> float:
    """Lower end of the Wilson score interval for k successes in n trials."""
    return wilson(k, n, confidence)[0]  # type: ignore[index]  (n >= 1: entries have samples)


def _numbers(entry: dict) -> dict[str, tuple[float, int]]:
    """metric name -> (accuracy, n): clean accuracy, worst-case robust accuracy, every cell."""
    n = entry["dataset"]["n_samples"]
    out = {"clean acc": (entry["clean"]["acc"], n)}
    for r in entry["robust"]:
        mode = f" [{r['attack_mode']}]" if r["attack_mode"] else ""
        out[f"robust acc {eps_label(r['norm'], r['eps'])}{mode}"] = (r["robust_acc"], r["n"])
    for c in entry["cells"]:
        mode = f" [{c['attack_mode']}]" if c["attack_mode"] else ""
        params = json.dumps(c["params"], sort_keys=True)
        out[f"{c['attack']} ({c['backend']}) {params} {eps_label(c['norm'], c['eps'])}{mode}"] = (c["adv_acc"], n)
    return out


def _label(entry: dict) -> str:
    return " ".join(w for w in (entry["detector"], entry["training"], entry["defenses"]) if w)


def _key(entry: dict) -> tuple:
    return entry["detector"], entry["training"], entry["defenses"], entry["dataset"]["name"]


def compare(baseline: list[dict], new: list[dict], confidence: float = 0.95) -> list[Finding]:
    """Every number of ``baseline`` against ``new``; entries match by detector, defenses and dataset."""
    found = {_key(e): e for e in new}
    findings = []
    for base in baseline:
        label = _label(base)
        run = found.get(_key(base))
        if run is None:
            findings.append(Finding(label, "entry", None, None, None, 0, True, "missing from the new run"))
            continue
        if run["dataset"]["fingerprint"] != base["dataset"]["fingerprint"]:
            findings.append(Finding(label, "dataset", None, None, None, 0, True,
                                    "the dataset's fingerprint changed (different samples)"))
            continue
        for flag in sorted(set(run["flags"]) - set(base["flags"])):
            findings.append(Finding(label, "sanity flags", None, None, None, 0, True, f"new flag {flag}"))
        new_numbers = _numbers(run)
        for metric, (value, n) in _numbers(base).items():
            if metric not in new_numbers:
                findings.append(Finding(label, metric, value, None, None, n, True, "not measured by the new run"))
                continue
            got, got_n = new_numbers[metric]
            if got_n != n:
                findings.append(Finding(label, metric, value, got, None, n, True, f"n changed {n} -> {got_n}"))
                continue
            lower = wilson_lower(round(value * n), n, confidence)
            findings.append(Finding(label, metric, value, got, lower, n, got < lower - 1e-12))
    return findings


def read_baseline(path: Path) -> dict:
    try:
        baseline = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EntryError(f"no baseline at {path}; create it with `dfbench check --baseline {path} --update`") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EntryError(f"{path}: not a readable baseline ({exc})") from None
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
    return baseline


def portable_grid(grid: str) -> str:
    """A shipped grid's name as it is; a grid file's path relative to the working directory (the
    repository, where CI runs) when it lies below it, so a baseline works in any clone."""
    path = resolve_grid_path(grid).resolve()
    if path.parent == GRIDS_DIR.resolve():
        return path.stem
    cwd = Path.cwd().resolve()
    return os.path.relpath(path, cwd) if path.is_relative_to(cwd) else str(path)


def write_baseline(path: Path, grid: str, grid_sha256: str, entries: list[dict]) -> None:
    """Write the baseline atomically (a failed write keeps the old one)."""
    write_json(Path(path), {"kind": BASELINE_KIND, "grid": grid, "grid_sha256": grid_sha256, "entries": entries})


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
            entries = entries_from_store(store, flags_allowed=True)
        finally:
            store.close()
    if plan.update or plan.baseline is None:
        write_baseline(plan.baseline_path, portable_grid(plan.grid_name), plan.grid.sha256, entries)
        return CheckResult(plan.grid_name, summary.total, len(entries), [])
    findings = compare(plan.baseline["entries"], entries, plan.confidence)
    return CheckResult(plan.grid_name, summary.total, len(entries), findings)
