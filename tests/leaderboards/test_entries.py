"""Entries: built from a run, checked against the published schema, written safely."""

from __future__ import annotations

import copy
import json

import pytest

from dfbench.benchmark.store import Store
from dfbench.metrics.intervals import wilson
from dfbench.leaderboards.entry import (
    EntryError,
    entry_path,
    read_entry,
    safe_name,
    validate_entry,
    verify_weights,
    write_entry,
)


def test_entries_carry_the_runs_numbers_and_provenance(lb_entries, lb_run):
    store = Store(lb_run / "results.sqlite")
    records = store.records()
    assert len(lb_entries) == 2  # undefended and JPEG-defended
    plain = next(e for e in lb_entries if not e["defenses"])
    for entry in lb_entries:
        validate_entry(entry)
    # every cell of the run is in exactly one entry, with its numbers and backend
    assert sum(len(e["cells"]) for e in lb_entries) == len(records)
    rec = records[(records.defenses == "") & (records.attack == "pgd") & (records.norm == "l2")].iloc[0]
    cell = next(c for c in plain["cells"] if c["attack"] == "pgd" and c["norm"] == "l2")
    assert cell["adv_acc"] == pytest.approx(rec.adv_acc, abs=1e-6) and cell["backend"] == rec.backend
    # robust numbers: recomputed here by hand from the samples table, per sample and eps
    samples = store.samples().merge(records[["key", "defenses", "norm", "eps", "threshold"]], on="key")
    samples = samples[(samples.defenses == "") & (samples.norm == "linf")]
    correct = lambda score, s: (score >= s.threshold) == (s.label == 1)  # noqa: E731
    for row in (r for r in plain["robust"] if r["norm"] == "linf"):
        robust = 0
        for _, s in samples.groupby("idx"):
            upto = s[s.eps <= row["eps"] + 1e-12]
            robust += bool(correct(s.clean_score.iloc[0], s.iloc[0]) and all(correct(a, r) for a, (_, r) in
                                                                         zip(upto.adv_score, upto.iterrows())))
        assert row["n_robust"] == robust, row["eps"]
    prov = plain["provenance"]
    assert prov["grid_sha256"] == rec.grid_sha256 and prov["dfbench_version"] == rec.dfbench_version
    assert plain["weights_sha256"] == rec.weights_sha256 and plain["dataset"]["fingerprint"] == rec.dataset_fingerprint
    assert plain["dataset"]["n_samples"] == 48
    json.dumps(plain, allow_nan=False)  # numbers only: no NaN sneaks into the JSON


def test_every_rate_carries_its_wilson_interval_and_every_auc_a_bootstrap_one(lb_entries):
    plain = next(e for e in lb_entries if not e["defenses"])
    n = plain["dataset"]["n_samples"]
    assert plain["clean"]["acc_ci"] == pytest.approx(wilson(round(plain["clean"]["acc"] * n), n), abs=1e-6)
    lo, hi = plain["clean"]["auc_ci"]
    assert lo <= plain["clean"]["auc"] <= hi
    for r in plain["robust"]:
        assert r["robust_acc_ci"] == pytest.approx(wilson(r["n_robust"], r["n"]), abs=1e-6)
        assert r["n_detected"] + r["n_accepted"] == round(plain["clean"]["acc"] * n)
        if r["n_accepted"]:
            assert r["framing_rate_ci"] == pytest.approx(wilson(r["n_framed"], r["n_accepted"]), abs=1e-6)
        assert (r["auc"] is None) == (r["auc_ci"] is None)


@pytest.mark.parametrize("edit", [
    lambda e: e["robust"][0].update(robust_acc_ci=[0.0, 1.0]),  # not the count's interval
    lambda e: e["clean"].update(auc_ci=[0.9, 0.1]),  # out of order
    lambda e: e["robust"][0].update(n_framed=e["robust"][0]["n_accepted"] + 1),
])
def test_inconsistent_intervals_and_counts_are_refused(lb_entries, edit):
    with pytest.raises(EntryError, match="do not add up|does not fit"):
        validate_entry(_broken(lb_entries[0], edit), "x.json")


def test_an_entry_without_intervals_is_refused_and_an_old_format_says_how_to_update(lb_entries):
    with pytest.raises(EntryError, match="robust_acc_ci"):
        validate_entry(_broken(lb_entries[0], lambda e: e["robust"][0].pop("robust_acc_ci")), "x.json")
    with pytest.raises(EntryError, match="schema version 1.*dfbench submit"):
        validate_entry(_broken(lb_entries[0], lambda e: e.update(schema_version=1)), "x.json")


def test_defended_entry_has_both_attack_modes_and_its_flags(lb_entries):
    jpeg = next(e for e in lb_entries if e["defenses"])
    assert {r["attack_mode"] for r in jpeg["robust"]} == {"naive", "adaptive"}
    assert "gradient_masking" in jpeg["flags"]
    # the flag names the naive cells that raised it: their adaptive twin is far lower
    raised = jpeg["flag_details"]["gradient_masking"]
    assert raised and all(d["cell"].endswith("[naive]") for d in raised)
    naive = {(c["attack"], c["backend"], c["norm"], c["eps"]): c["adv_acc"] for c in jpeg["cells"]
             if c["attack_mode"] == "naive"}
    assert all(d["adv_acc"] in naive.values() for d in raised)


def test_advisory_flags_need_no_allow_flags_but_details_must_match_flags(lb_entries):
    entry = copy.deepcopy(next(e for e in lb_entries if not e["defenses"]))
    entry.update(flags=["single_step_not_monotone"], flags_allowed=False,
                 flag_details={"single_step_not_monotone": [{"cell": "fgsm (native) linf 4/255", "adv_acc": 0.5}]})
    validate_entry(entry)  # FGSM overshooting is shown, not a reason to refuse
    entry["flag_details"] = {}
    with pytest.raises(EntryError, match="flag_details must name the cells"):
        validate_entry(entry)


def _broken(entry, edit):
    bad = copy.deepcopy(entry)
    edit(bad)
    return bad


@pytest.mark.parametrize("edit,message", [
    (lambda e: e["clean"].update(acc="0.9"), "clean/acc: '0.9' is not of type 'number'"),
    (lambda e: e["robust"][0].update(robust_acc=1.5), "robust/0/robust_acc"),
    (lambda e: e["provenance"].pop("git_sha"), "'git_sha' is a required property"),
    (lambda e: e.update(weights_sha256="abc"), "weights_sha256"),
    (lambda e: e["cells"][0].update(backend=None), "cells/0/backend"),
    (lambda e: e.update(surprise=1), "Additional properties"),
    (lambda e: e.update(name="../../etc/passwd"), "at name"),
    (lambda e: e["robust"][0].update(n_robust=e["robust"][0]["n_robust"] + 1), "do not add up"),
    (lambda e: e.update(flags=["zero_gradients"], flags_allowed=False,
                        flag_details={"zero_gradients": [{"cell": "detector probe", "adv_acc": None}]}),
     "--allow-flags"),
    (lambda e: e["robust"][0].update(evasion_rate=0.0, n_evaded=1, n_detected=1), "do not add up"),
    (lambda e: e["clean"].update(acc=0.0), "do not add up"),  # robust above clean
])
def test_schema_violations_are_rejected_with_the_place(lb_entries, edit, message):
    with pytest.raises(EntryError, match="does not match|do not add up|allow-flags") as err:
        validate_entry(_broken(lb_entries[0], edit), "x.json")
    assert message in str(err.value) and str(err.value).startswith("x.json")


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", ".hidden", "", "a\\b", "x" * 200, "a..b", "/abs", "x\n"])
def test_unsafe_names_are_refused(name):
    with pytest.raises(EntryError, match="not allowed"):
        safe_name(name)


def test_write_read_round_trip_and_refusals(lb_entries, tmp_path):
    plain = next(e for e in lb_entries if not e["defenses"])
    path = write_entry(tmp_path, plain)
    assert path == tmp_path / "mini" / f"{plain['name']}.json"
    assert read_entry(path) == plain
    with pytest.raises(EntryError, match="exists already"):
        write_entry(tmp_path, plain)
    assert write_entry(tmp_path, plain, replace=True) == path
    renamed = {**plain, "name": "same-detector-other-name"}
    with pytest.raises(EntryError, match="already holds this detector"):
        write_entry(tmp_path, renamed, replace=True)
    sneaky = {**plain, "dataset": {**plain["dataset"], "name": ".."}}
    with pytest.raises(EntryError, match="not allowed"):
        entry_path(tmp_path, sneaky)
    assert sorted(p.name for p in (tmp_path / "mini").iterdir()) == [path.name]  # no temp files left


def test_read_entry_reports_broken_files(lb_entries, tmp_path):
    folder = tmp_path / "mini"
    folder.mkdir()
    (folder / "bad.json").write_text('{"schema_version": 1,')
    with pytest.raises(EntryError, match="bad.json is not valid JSON"):
        read_entry(folder / "bad.json")
    (folder / "empty.json").write_text("")
    with pytest.raises(EntryError, match="not valid JSON"):
        read_entry(folder / "empty.json")
    plain = lb_entries[0]
    (folder / "misnamed.json").write_text(json.dumps(plain))
    with pytest.raises(EntryError, match="belongs at"):
        read_entry(folder / "misnamed.json")


def test_weights_file_must_match_the_hash(lb_entries, tmp_path):
    entry = {**lb_entries[0], "weights_file": "w.safetensors"}
    (tmp_path / "w.safetensors").write_bytes(b"not the weights")
    with pytest.raises(EntryError, match="not the weights"):
        verify_weights(entry, tmp_path)
    with pytest.raises(EntryError, match="not found"):
        verify_weights({**entry, "weights_file": "missing.safetensors"}, tmp_path)
    with pytest.raises(EntryError, match="outside the leaderboard folder"):
        verify_weights({**entry, "weights_file": "../../../etc/hostname"}, tmp_path / "lb" / "mini")


def test_a_detector_at_chance_gets_one_warning(lb_entries):
    from dfbench.leaderboards.report import chance_warnings

    chance, good = copy.deepcopy(lb_entries[0]), copy.deepcopy(lb_entries[0])
    chance["clean"].update(auc=0.48, auc_ci=[0.39, 0.57])
    good["clean"].update(auc=0.80, auc_ci=[0.72, 0.87])
    inverted = copy.deepcopy(chance)
    inverted["clean"].update(auc=0.30, auc_ci=[0.21, 0.39])
    lines = chance_warnings([chance, chance, good, inverted])
    assert len(lines) == 2 and "clean AUC 0.480 [0.390, 0.570] is not distinguishable from chance" in lines[0]
    assert "clean AUC 0.300 [0.210, 0.390] lies below chance" in lines[1]


@pytest.mark.parametrize("separation, flag", [(1.5, None), (0.0, "clean_auc_at_chance"),
                                              (-1.5, "clean_auc_below_chance")])
def test_a_detector_at_or_below_chance_on_clean_data_is_flagged(separation, flag):
    """The clean AUC's bootstrap interval against 0.5 (sklearn's AUC as the reference point)."""
    import numpy as np
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from dfbench.benchmark.sanity import blocking
    from dfbench.leaderboards.robust import clean_flags, clean_numbers

    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 80)
    scores = 1 / (1 + np.exp(-(rng.normal(size=160) + separation * (2 * labels - 1))))
    auc = roc_auc_score(labels, scores)
    first = pd.Series({"n_samples": 160, "clean_acc": 0.5, "clean_auc": auc, "threshold": 0.5})
    clean = clean_numbers(first, pd.DataFrame({"idx": range(160), "clean_score": scores, "label": labels}))
    lo, hi = clean["auc_ci"]
    assert lo <= auc <= hi and (lo > 0.5 if flag is None else hi < 0.5 if flag.endswith("below_chance") else lo <= 0.5)
    flags = clean_flags(clean)
    assert list(flags) == ([flag] if flag else [])
    if flag:
        assert flags[flag] == [{"cell": f"clean AUC {auc:.3f} [{lo:.3f}, {hi:.3f}]", "adv_acc": None}]
        assert blocking([flag]) == ([flag] if flag == "clean_auc_below_chance" else [])  # at chance: advisory
