"""Hostile files that dfbench reads whole: leaderboard entries, baselines and checkpoint cards.
Each is refused in one line naming the file; no wrong number is accepted, nothing is written."""

from __future__ import annotations

import copy
import json
import os

import pytest

from .conftest import REPO

ENTRY = REPO / "leaderboards" / "mini" / "custom_cnn-f6871de5-full.json"  # a committed entry, made hostile below
BASELINE = REPO / "baselines" / "quick-mini.json"


def _set(doc: dict, path: str, value) -> dict:
    doc = copy.deepcopy(doc)
    *parents, last = path.split("/")
    target = doc
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return doc


def _raw(doc: dict, path: str, literal: str) -> str:
    """The entry as JSON text with ``literal`` written verbatim at ``path`` (what json.dumps would refuse)."""
    return json.dumps(_set(doc, path, "@RAW@")).replace('"@RAW@"', literal)


def _entry_text(change) -> str | bytes:
    doc = json.loads(ENTRY.read_text())
    out = change(doc) if callable(change) else change
    return out if isinstance(out, (str, bytes)) else json.dumps(out)


NAN = float("nan")
ENTRY_CASES = {
    "nan_accuracy": (lambda e: json.dumps(_set(e, "clean/acc", NAN)), "NaN is not a JSON number"),
    "infinity_threshold": (lambda e: json.dumps(_set(e, "clean/threshold", float("inf"))),
                           "Infinity is not a JSON number"),
    "minus_infinity_eps": (lambda e: json.dumps(_set(e, "robust/0/eps", -float("inf"))), "-Infinity"),
    "overflowing_float": (lambda e: _raw(e, "clean/acc", "1e400"), "beyond the range"),
    "400_digit_count": (lambda e: _raw(e, "robust/0/n_robust", "9" * 400), "must be within +-2**53"),
    "5000_digit_count": (lambda e: _raw(e, "robust/0/n_robust", "9" * 5000), "is not valid JSON"),
    "threshold_above_one": (lambda e: _set(e, "clean/threshold", 7.5), "threshold"),
    "accuracy_above_one": (lambda e: _set(e, "clean/acc", 1.5), "1.5"),
    "negative_count": (lambda e: _set(e, "robust/0/n_robust", -1), "-1"),
    "count_as_float": (lambda e: _set(e, "robust/0/n", 160.5), "160.5"),
    "count_as_bool": (lambda e: _set(e, "robust/0/n", True), "True"),
    "absurd_sample_count": (lambda e: _set(e, "dataset/n_samples", 10 ** 12), "1000000000000"),
    "eps_absurd": (lambda e: _set(e, "robust/0/eps", 1e300), "1e+300"),
    "acc_as_string": (lambda e: _set(e, "clean/acc", "0.85"), "'0.85'"),
    "rate_not_matching_counts": (lambda e: _set(e, "robust/0/robust_acc", 0.9), "counts do not add up"),
    "interval_not_holding_value": (lambda e: _set(e, "robust/0/robust_acc_ci", [0.5, 0.6]), "robust_acc"),
    "missing_protocol": (lambda e: {k: v for k, v in e.items() if k != "protocol"}, "protocol"),
    "unknown_key": (lambda e: {**e, "bonus": 1}, "bonus"),
    "name_not_file": (lambda e: _set(e, "name", "other"), "belongs at"),
    "not_an_object": ("[1, 2, 3]", "is not of type 'object'"),
    "truncated": (lambda e: json.dumps(e)[:100], "is not valid JSON"),
    "not_utf8": (b"\xff\xfe{}", "is not UTF-8 text"),
    "deeply_nested": ("[" * 100000 + "]" * 100000, "nested too deeply"),
    "nested_past_limit": (lambda e: {**e, "bonus": json.loads("[" * 40 + "]" * 40)}, "nested more than"),
    "empty": ("", "is not valid JSON"),
    "old_schema": (lambda e: _set(e, "schema_version", 1), "--replace"),
    "blocking_flag_not_allowed": (lambda e: {**_set(e, "flags", ["nonfinite_logits"]), "flags_allowed": False,
                                            "flag_details": {"nonfinite_logits": [{"cell": "x", "adv_acc": None}]}},
                                  "not submitted with --allow-flags"),
}


@pytest.mark.parametrize("case", sorted(ENTRY_CASES))
def test_a_hostile_entry_stops_the_build_before_anything_is_written(ws, case):
    change, message = ENTRY_CASES[case]
    ws.write(f"lb/mini/{ENTRY.name}", _entry_text(change))
    line = ws.refused(["leaderboard", "build", "--leaderboards", ws.root / "lb"], message)
    assert ENTRY.name in line or "entry" in line


@pytest.mark.parametrize("make,message", [
    (lambda d: os.symlink("/dev/zero", d / "x.json"), "leads outside"),
    (lambda d: os.symlink("/etc/hostname", d / "x.json"), "leads outside"),
    (lambda d: os.mkfifo(d / "x.json"), "is not a regular file"),
    (lambda d: (d / "x.json").write_bytes(b" " * (17 << 20)), "more than the"),
    (lambda d: os.symlink(d / "x.json", d / "x.json"), "cannot read entry"),
], ids=["link_to_dev_zero", "link_out_of_the_leaderboard", "fifo", "over_16_MiB", "link_loop"])
def test_an_entry_that_is_no_regular_file_inside_the_leaderboard_is_not_read(ws, make, message):
    folder = ws.root / "lb" / "mini"
    folder.mkdir(parents=True)
    make(folder)
    ws.refused(["leaderboard", "build", "--leaderboards", ws.root / "lb"], message)


def test_an_entry_in_a_linked_dataset_folder_outside_the_leaderboard_is_not_read(ws):
    ws.write(f"elsewhere/{ENTRY.name}", ENTRY.read_text())
    (ws.root / "lb").mkdir()
    os.symlink(ws.root / "elsewhere", ws.root / "lb" / "mini")
    ws.refused(["leaderboard", "build", "--leaderboards", ws.root / "lb"], "leads outside")


BASELINE_CASES = {
    "nan_clean_accuracy": (lambda b: json.dumps(_set(b, "entries/0/clean/acc", NAN)), "NaN is not a JSON number"),
    "infinite_eps": (lambda b: json.dumps(_set(b, "entries/0/robust/0/eps", float("inf"))), "Infinity"),
    "huge_count": (lambda b: json.dumps(b).replace('"n": 160', '"n": ' + "7" * 300, 1), "+-2**53"),
    "not_a_baseline": (lambda b: {"kind": "something-else"}, "not a dfbench baseline"),
    "entries_empty": (lambda b: {**b, "entries": []}, "not a dfbench baseline"),
    "outcomes_wrong_length": (lambda b: {**b, "outcomes": {k: {m: "01" for m in v} for k, v in b["outcomes"].items()}},
                              "outcomes or cache key are malformed"),
    "outcomes_not_bits": (lambda b: {**b, "outcomes": {k: {m: "x" * len(s) for m, s in v.items()}
                                                      for k, v in b["outcomes"].items()}}, "malformed"),
    "cache_key_number": (lambda b: {**b, "cache_key": 5}, "malformed"),
    "entry_rate_wrong": (lambda b: _set(b, "entries/0/robust/0/robust_acc", 0.99), "counts do not add up"),
    "old_entry_schema": (lambda b: _set(b, "entries/0/schema_version", 1), "--update"),
    "truncated": (lambda b: json.dumps(b)[:50], "is not valid JSON"),
    "deeply_nested": (lambda b: "[" * 100000 + "]" * 100000, "nested too deeply"),
}


@pytest.mark.parametrize("case", sorted(BASELINE_CASES))
def test_a_hostile_baseline_is_refused_before_the_grid_runs(ws, case):
    change, message = BASELINE_CASES[case]
    out = change(json.loads(BASELINE.read_text()))
    path = ws.write("b.json", out if isinstance(out, str) else json.dumps(out))
    ws.refused(["check", "--baseline", path, "--out", ws.out, "--cache", ws.cache], message)


@pytest.mark.parametrize("make,message", [
    (lambda ws: os.symlink("/dev/zero", ws.root / "b.json"), "is not a regular file"),
    (lambda ws: os.mkfifo(ws.root / "b.json"), "is not a regular file"),
    (lambda ws: (ws.root / "b.json").mkdir(), "is not a regular file"),
], ids=["link_to_dev_zero", "fifo", "folder"])
def test_a_baseline_that_is_no_regular_file_is_not_read(ws, make, message):
    make(ws)
    ws.refused(["check", "--baseline", ws.root / "b.json", "--out", ws.out, "--cache", ws.cache], message)
