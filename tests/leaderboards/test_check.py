"""`dfbench check`: the Wilson-interval regression gate against a baseline."""

from __future__ import annotations

import copy
import json
import math

import pytest
from typer.testing import CliRunner

from dfbench.cli import app
from dfbench.leaderboards.check import Run, compare, wilson_lower
from dfbench.leaderboards.paired import mcnemar, robust_name
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


@pytest.mark.parametrize("lost,gained", [(0, 0), (5, 0), (6, 1), (3, 3), (1, 9)])
def test_mcnemar_is_the_exact_binomial_tail_by_hand(lost, gained):
    same = 40
    base = "1" * lost + "0" * gained + "1" * same
    new = "0" * lost + "1" * gained + "1" * same
    n = lost + gained
    tail = sum(math.comb(n, k) for k in range(lost, n + 1)) / 2 ** n if n else 1.0
    assert mcnemar(base, new) == (lost, gained, pytest.approx(tail, abs=1e-12))


def _paired(entries, k, lost, gained):
    """``entries`` with the last robust row at k/n, and per-sample outcomes for that number."""
    out = _with_robust(entries, k)
    row = out[0]["robust"][-1]
    bits = "1" * lost + "0" * gained + "1" * (k - lost) + "0" * (row["n"] - k - gained)
    label = out[0]["detector"]
    return out, {label: {robust_name(row["norm"], row["eps"], row["attack_mode"]): bits}}


def test_the_paired_test_catches_a_consistent_drop_that_wilson_lets_pass(lb_entries):
    base, base_bits = _paired(lb_entries, 24, 0, 0)
    # 5 samples lost, none gained: 19/48 is above Wilson's 18, but McNemar's p = 1/32 < 0.05
    new_entries, _ = _paired(lb_entries, 19, 0, 0)
    row = base[0]["robust"][-1]
    name = robust_name(row["norm"], row["eps"], row["attack_mode"])
    new_bits = {base[0]["detector"]: {name: "0" * 5 + base_bits[base[0]["detector"]][name][5:]}}
    assert not any(f.failed for f in compare(base, new_entries))  # Wilson alone: passes
    failed = [f for f in compare(Run(base, base_bits), Run(new_entries, new_bits)) if f.failed]
    assert [f.metric for f in failed] == [name]
    assert "McNemar exact: 5 lost, 0 gained, p=0.0312" in failed[0].line(0.95)
    # as many gained as lost: the same count moved around, no drop
    swapped = {base[0]["detector"]: {name: "0" * 5 + "1" * 5 + base_bits[base[0]["detector"]][name][10:]}}
    assert not any(f.failed for f in compare(Run(base, {base[0]["detector"]: {name: "1" * 5 + "0" * 5 +
                                                       base_bits[base[0]["detector"]][name][10:]}}),
                                             Run(base, swapped)))


def test_changed_weights_fail_and_say_whether_the_code_changed(lb_entries):
    other = copy.deepcopy(lb_entries)
    other[0]["weights_sha256"] = "f" * 64
    same_code = [f for f in compare(Run(lb_entries, None, "a"), Run(other, None, "a")) if f.failed]
    assert [f.metric for f in same_code] == ["weights"] and "training is not reproducible" in same_code[0].reason
    new_code = [f for f in compare(Run(lb_entries, None, "a"), Run(other, None, "b")) if f.failed]
    assert "code, arguments or data changed" in new_code[0].line(0.95)


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
    passed = invoke("check", "--baseline", baseline, "--cache", cache_dir, "-v")
    assert passed.exit_code == 0, passed.output
    assert "beyond tolerance" in passed.output and ": 0 beyond tolerance" in passed.output
    assert "McNemar exact: 0 lost, 0 gained, p=1" in passed.output  # the same seeded samples, paired

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
    data["outcomes"][plain["detector"]]["clean acc"] = "01"  # not one digit per sample
    baseline.write_text(json.dumps(data))
    malformed = invoke("check", "--baseline", baseline, "--cache", cache_dir)
    assert malformed.exit_code == 2 and "outcomes or cache key are malformed" in malformed.output
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    assert "not a dfbench baseline" in invoke("check", "--baseline", bad, "--cache", cache_dir).output
