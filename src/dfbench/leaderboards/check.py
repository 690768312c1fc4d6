"""`dfbench check`: a CI gate that re-runs a seeded grid and compares it with a baseline.

Every accuracy is a proportion over n samples, so the tolerance is statistical: a number
fails when the new value falls below the lower end of the Wilson score interval of the
baseline's count (at ``confidence``, default 95%). A number the new run lacks, a changed
sample count or dataset, and a sanity flag the baseline did not have fail too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from scipy.stats import binomtest

from .entry import EntryError, validate_entry, write_json
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
    return float(binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson").low)


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
        validate_entry(entry, f"{path} entry {i}")
    return baseline


def write_baseline(path: Path, grid: str, grid_sha256: str, entries: list[dict]) -> None:
    """Write the baseline atomically (a failed write keeps the old one)."""
    write_json(Path(path), {"kind": BASELINE_KIND, "grid": grid, "grid_sha256": grid_sha256, "entries": entries})
