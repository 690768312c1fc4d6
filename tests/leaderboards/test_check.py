"""`dfbench check`: the Wilson-interval regression gate against a baseline."""

from __future__ import annotations

import copy
import json
import math

import pytest
from typer.testing import CliRunner

from dfbench.cli import app
from dfbench.leaderboards.check import compare, wilson_lower
from dfbench.leaderboards.rates import rate

runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result


@pytest.mark.parametrize("k,n", [(32, 160), (0, 48), (48, 48), (7, 10)])
def test_wilson_lower_matches_the_textbook_formula(k, n):
    z = 1.959963984540054  # two-sided 95%
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert wilson_lower(k, n, 0.95) == pytest.approx(centre - half, abs=1e-9)


def _with_robust(entries, k):
    """A copy of ``entries`` whose first entry's last robust row is k/n."""
    out = copy.deepcopy(entries)
    row = out[0]["robust"][-1]
    row.update(n_robust=k, **rate("robust_acc", k, row["n"]))
    return out


def test_compare_passes_identical_runs_and_fails_real_drops(lb_entries):
    assert not any(f.failed for f in compare(lb_entries, lb_entries))
    baseline = _with_robust(lb_entries, 24)  # 24/48 = 0.5: Wilson 95% lower bound 0.364 -> 18 of 48 still pass
    assert wilson_lower(24, 48, 0.95) == pytest.approx(0.3636, abs=1e-3)
    for k, fails in ((24, False), (23, False), (18, False), (17, True), (5, True)):
        failed = [f for f in compare(baseline, _with_robust(lb_entries, k)) if f.failed]
        assert bool(failed) == fails, k
    line = next(f for f in compare(baseline, _with_robust(lb_entries, 5)) if f.failed).line(0.95)
    assert line.startswith("FAIL test_tiny_cnn") and "0.500 -> 0.104 (allowed >= 0.364, Wilson 95% on n=48)" in line


def test_compare_fails_missing_entries_numbers_and_new_flags(lb_entries):
    missing = compare(lb_entries, lb_entries[1:])
    assert [f.reason for f in missing if f.failed] == ["missing from the new run"]
    flagged = copy.deepcopy(lb_entries)
    flagged[0]["flags"] = sorted(flagged[0]["flags"] + ["nondeterministic"])
    flagged[0]["flag_details"]["nondeterministic"] = [{"cell": "detector probe", "adv_acc": None}]
    assert [f.reason for f in compare(lb_entries, flagged) if f.failed] == ["new flag nondeterministic"]
    fewer = copy.deepcopy(lb_entries)
    fewer[0]["cells"] = fewer[0]["cells"][1:]
    assert [f.reason for f in compare(lb_entries, fewer) if f.failed] == ["not measured by the new run"]


def test_check_cli_update_pass_fail_and_changed_grid(lb_grid, cache_dir, tmp_path):
    baseline = tmp_path / "baseline.json"
    missing = invoke("check", "--baseline", baseline, "--cache", cache_dir)
    assert missing.exit_code == 2 and "--update" in missing.output
    made = invoke("check", "--baseline", baseline, "--grid", lb_grid, "--update", "--cache", cache_dir)
    assert made.exit_code == 0, made.output
    passed = invoke("check", "--baseline", baseline, "--cache", cache_dir)
    assert passed.exit_code == 0, passed.output
    assert "beyond tolerance" in passed.output and ": 0 beyond tolerance" in passed.output

    data = json.loads(baseline.read_text())  # pretend the baseline was much more robust
    plain = next(e for e in data["entries"] if not e["defenses"])
    row = next(r for r in plain["robust"] if r["norm"] == "linf" and r["eps"] > 0.03)
    row["n_robust"] = round(plain["clean"]["acc"] * row["n"])  # as robust as it is accurate
    row.update(rate("robust_acc", row["n_robust"], row["n"]))
    baseline.write_text(json.dumps(data))
    failed = invoke("check", "--baseline", baseline, "--cache", cache_dir)
    assert failed.exit_code == 1
    assert f"FAIL test_tiny_cnn: robust acc linf 8/255 {row['robust_acc']:.3f} -> " in failed.output

    lb_grid_copy = tmp_path / "lb.toml"
    lb_grid_copy.write_text(lb_grid.read_text().replace("steps = 3", "steps = 4", 1))
    changed = invoke("check", "--baseline", baseline, "--grid", lb_grid_copy, "--cache", cache_dir)
    assert changed.exit_code == 2 and "re-baseline with --update" in changed.output
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    assert "not a dfbench baseline" in invoke("check", "--baseline", bad, "--cache", cache_dir).output
