"""`dfbench submit` and `dfbench leaderboard build` through the CLI, and their answers to bad input."""

from __future__ import annotations

import json
import sqlite3

import pytest

from typer.testing import CliRunner

from dfbench.benchmark.sanity import blocking
from dfbench.cli import app

runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result


def submit(results, root, cache, *extra):
    return invoke("submit", "--out", results, "--leaderboards", root, "--cache", cache, *extra)


def test_submit_refuses_flagged_entries_unless_allowed(results, cache_dir, tmp_path):
    root = tmp_path / "lb"
    refused = submit(results, root, cache_dir)
    assert refused.exit_code == 2
    out = " ".join(refused.output.split())  # typer wraps long lines
    # the message names the cells that raised the flag, with their numbers
    assert "cannot be trusted (gradient_masking: " in out and "linf 8/255 [naive] 0." in out, out
    assert "--allow-flags" in out
    assert not root.exists()  # nothing half-submitted
    ok = submit(results, root, cache_dir, "--allow-flags")
    assert ok.exit_code == 0, ok.output
    entries = {p.stem: json.loads(p.read_text()) for p in (root / "mini").glob("*.json")}
    assert len(entries) == 2
    jpeg = next(e for e in entries.values() if e["defenses"])
    assert jpeg["flags_allowed"] and "gradient_masking" in jpeg["flags"]
    again = submit(results, root, cache_dir, "--allow-flags")
    assert again.exit_code == 2 and "exists already; pass --replace" in again.output


def test_submit_checks_names_and_weights(results, cache_dir, tmp_path):
    root = tmp_path / "lb"
    two = submit(results, root, cache_dir, "--allow-flags", "--name", "mine")
    assert two.exit_code == 2 and "--name names one entry, but 2" in two.output
    wrong = tmp_path / "other.safetensors"
    wrong.write_bytes(b"x")
    mismatch = submit(results, root, cache_dir, "--allow-flags", "--weights", wrong)
    assert mismatch.exit_code == 2 and "was evaluated with" in mismatch.output
    empty = tmp_path / "empty-cache"
    empty.mkdir()
    missing = submit(results, root, empty, "--allow-flags")
    assert missing.exit_code == 2 and "pass --weights PATH" in missing.output
    unknown = submit(results, root, cache_dir, "--detector", "nope")
    assert unknown.exit_code == 2 and "no finished cells of nope" in unknown.output
    nowhere = submit(tmp_path / "no-results", root, cache_dir)
    assert nowhere.exit_code == 2 and "no results store" in nowhere.output
    assert not root.exists()


def test_submit_names_one_entry_and_refuses_path_tricks(results, cache_dir, tmp_path):
    with sqlite3.connect(results / "results.sqlite") as conn:  # keep the undefended cells only
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("DELETE FROM cells WHERE defenses != ''")
    root = tmp_path / "lb"
    for trick in ("../../escape", "a/b", ".."):
        result = submit(results, root, cache_dir, "--name", trick)
        assert result.exit_code == 2 and "is not allowed" in result.output
    assert not root.exists() and not (tmp_path / "escape.json").exists()
    clean = submit(results, root, cache_dir, "--name", "mine")  # no blocking flag: no --allow-flags needed
    assert clean.exit_code == 0, clean.output
    entry = json.loads((root / "mini" / "mine.json").read_text())
    assert not blocking(entry["flags"]) and not entry["flags_allowed"] and entry["defenses"] == ""


def test_build_writes_tables_plots_and_site(results, cache_dir, tmp_path):
    root = tmp_path / "lb"
    assert submit(results, root, cache_dir, "--allow-flags").exit_code == 0
    built = invoke("leaderboard", "build", "--leaderboards", root)
    assert built.exit_code == 0, built.output
    site = root / "site"
    md = (site / "leaderboard.md").read_text()
    assert "test_tiny_cnn" in md and "Jpeg(quality=75)" in md and "worst_case" in md and "evasion_rate" in md
    assert (site / "leaderboard.csv").exists() and (site / "assets" / "app.js").exists()
    assert sorted(p.name for p in (site / "plots").iterdir()) == ["mini-attacks.png", "mini-curves.png"]
    page = (site / "index.html").read_text()
    data = json.loads(page.split('type="application/json">')[1].split("</script>")[0])
    assert data["entries"] == 2 and data["datasets"] == ["mini"]
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []  # no temp folders left


def test_build_rejects_bad_entries_and_keeps_the_old_site(results, cache_dir, tmp_path):
    root = tmp_path / "lb"
    assert submit(results, root, cache_dir, "--allow-flags").exit_code == 0
    assert invoke("leaderboard", "build", "--leaderboards", root).exit_code == 0
    before = (root / "site" / "index.html").read_bytes()
    entry_file = next((root / "mini").glob("*.json"))
    entry = json.loads(entry_file.read_text())

    dup = root / "mini" / "copy.json"
    dup.write_text(json.dumps({**entry, "name": "copy"}))
    result = invoke("leaderboard", "build", "--leaderboards", root)
    assert result.exit_code == 2 and "duplicates" in result.output
    dup.unlink()

    bad = root / "mini" / "broken.json"
    bad.write_text(json.dumps({**entry, "name": "broken", "clean": {**entry["clean"], "acc": "high"}}))
    result = invoke("leaderboard", "build", "--leaderboards", root)
    assert result.exit_code == 2 and "broken.json: does not match the entry schema at clean/acc" in result.output
    bad.unlink()

    (root / "mini" / "w.safetensors").write_bytes(b"other weights")
    entry_file.write_text(json.dumps({**entry, "weights_file": "w.safetensors"}))
    result = invoke("leaderboard", "build", "--leaderboards", root)
    assert result.exit_code == 2 and "not the weights" in result.output

    assert (root / "site" / "index.html").read_bytes() == before
    assert invoke("leaderboard", "build", "--leaderboards", tmp_path / "nothing").exit_code == 2


def test_a_stopped_run_submits_only_its_finished_entries(lb_grid, cache_dir, tmp_path):
    """A run stopped inside the defended view (Ctrl-C) leaves its unfinished cells pending: submit
    writes the whole undefended entry, names the defended one it leaves out (an entry without the
    missing attacks would overstate robustness), and submits it once a resumed run finishes."""
    from dfbench.benchmark.craft import Seams, attack_in_batches, sweep_in_batches
    from dfbench.benchmark.driver import run_grid
    from dfbench.benchmark.executors import InProcess
    from dfbench.benchmark.grid import load_grid
    from dfbench.benchmark.store import Store
    from dfbench.defenses import Defense

    calls = []

    def stop_in_the_defended_view(real):
        def seam(attack, detector, *args):
            calls.append(isinstance(detector, Defense))
            if sum(calls) == 2:  # the defended view's second attack: its first cells are stored
                raise KeyboardInterrupt
            return real(attack, detector, *args)
        return seam

    out, root = tmp_path / "stopped", tmp_path / "lb"
    grid = load_grid(lb_grid)
    seams = Seams(attack_in_batches=stop_in_the_defended_view(attack_in_batches),
                  sweep_in_batches=stop_in_the_defended_view(sweep_in_batches))
    store = Store(out / "results.sqlite")
    try:
        try:
            run_grid(grid, store, cache_dir, executor=InProcess(seams))
        except KeyboardInterrupt:
            pass
        statuses = store.records(status=None).groupby("defenses").status.agg(lambda s: sorted(set(s)))
    finally:
        store.close()
    assert statuses.to_dict() == {"": ["ok"], "Jpeg(quality=75)": ["ok", "pending"]}  # stopped mid-view
    partial = submit(out, root, cache_dir, "--allow-flags")
    assert partial.exit_code == 0, partial.output
    written = sorted(p.stem for p in (root / "mini").glob("*.json"))
    assert len(written) == 1 and "Jpeg" not in written[0]
    said = " ".join(partial.output.split())
    assert "skipped test_tiny_cnn-Jpeg-quality-75-" in said and "cells not finished (" in said and "pending)" in said
    assert "run `dfbench run --out" in said
    misnamed = submit(out, tmp_path / "lb2", cache_dir, "--allow-flags", "--name", "x", "--detector", "test_tiny_cnn")
    assert misnamed.exit_code == 2 and "but 2 would be submitted (1 not finished)" in " ".join(misnamed.output.split())
    store = Store(out / "results.sqlite")
    try:
        resumed = run_grid(grid, store, cache_dir)
    finally:
        store.close()
    assert resumed.failed == 0 and resumed.ran > 0
    whole = submit(out, root, cache_dir, "--allow-flags", "--replace")
    assert whole.exit_code == 0 and "skipped" not in whole.output, whole.output
    entries = [json.loads(p.read_text()) for p in (root / "mini").glob("*.json")]
    assert sorted(len(e["cells"]) for e in entries) == [6, 12]  # the Jpeg entry whole: both attack modes


def test_submit_of_a_run_with_nothing_finished_says_so(results, cache_dir, tmp_path):
    with sqlite3.connect(results / "results.sqlite") as conn:  # as a run stopped before any cell finished
        conn.execute("UPDATE cells SET status = 'pending'")
    refused = submit(results, tmp_path / "lb", cache_dir, "--allow-flags")
    said = " ".join(refused.output.split())
    assert refused.exit_code == 2 and "no entry of" in said and "is finished (" in said, said
    assert said.count("cells not finished") == 2 and not (tmp_path / "lb").exists()


def test_a_failed_cell_keeps_its_entry_off_the_board_and_says_why(results, cache_dir, tmp_path):
    with sqlite3.connect(results / "results.sqlite") as conn:  # one attack raised, another never ran
        conn.execute("PRAGMA foreign_keys=ON")
        keys = [k for (k,) in conn.execute("SELECT key FROM cells WHERE defenses != '' ORDER BY key LIMIT 2")]
        conn.execute("UPDATE cells SET status = 'failed', error = 'RuntimeError: boom' WHERE key = ?", keys[:1])
        conn.execute("UPDATE cells SET status = 'pending' WHERE key = ?", keys[1:])
    result = submit(results, tmp_path / "lb", cache_dir, "--allow-flags")
    said = " ".join(result.output.split())
    assert result.exit_code == 0, said
    assert "cells not finished (1 failed, 1 pending; first error: RuntimeError: boom)" in said
    assert [json.loads(p.read_text())["defenses"] for p in (tmp_path / "lb" / "mini").glob("*.json")] == [""]


def test_one_view_under_two_digests_of_its_protocol_is_refused_not_overwritten(results, cache_dir, tmp_path):
    """A randomized view's worst case from before and after its rules changed: two entries, one file name."""
    with sqlite3.connect(results / "results.sqlite") as conn:
        key, protocol = conn.execute("SELECT key, protocol FROM cells WHERE defenses = '' ORDER BY key").fetchone()
        older = protocol.partition("@")[0] + "@00000000"
        conn.execute("UPDATE cells SET protocol = ? WHERE key = ?", (older, key))
    refused = submit(results, tmp_path / "lb", cache_dir, "--allow-flags")
    said = " ".join(refused.output.split())
    assert refused.exit_code == 2, said
    assert f"under protocols {protocol} and {older}" in said or f"under protocols {older} and {protocol}" in said
    assert "fresh --out" in said and not (tmp_path / "lb").exists()


def test_submit_puts_the_binarization_test_on_its_entries(results, lb_grid, cache_dir, tmp_path):
    """`dfbench audit --out RESULTS/audits.json`, then submit: each entry carries its views' tests; JPEG
    attacked naively (its rounding masks the gradient) fails and is flagged with its numbers."""
    audited = invoke("audit", "--grid", lb_grid, "--n", 6, "--n-inner", 50, "--cache", cache_dir,
                     "--out", results / "audits.json")
    assert audited.exit_code == 1 and "Jpeg(quality=75) naive: binarization test" in audited.output, audited.output
    root = tmp_path / "lb"
    assert submit(results, root, cache_dir, "--allow-flags").exit_code == 0
    entries = {e["defenses"]: e for e in (json.loads(p.read_text()) for p in (root / "mini").glob("*.json"))}
    jpeg, plain = entries["Jpeg(quality=75)"], entries[""]
    naive = next(a for a in jpeg["audit"] if a["attack_mode"] == "naive")
    assert naive["status"] == "failed" and naive["successes"] == 0 and naive["testable"] >= 4
    assert "fails_binarization_test" in jpeg["flags"] and "0/" in jpeg["flag_details"]["fails_binarization_test"][0][
        "cell"]
    assert [a["attack_mode"] for a in plain["audit"]] == [""] and "fails_binarization_test" in blocking(
        ["fails_binarization_test"])


def test_a_defended_entry_without_an_audit_is_marked_not_audited(results, cache_dir, tmp_path):
    root = tmp_path / "lb"
    assert submit(results, root, cache_dir, "--allow-flags").exit_code == 0
    entries = {e["defenses"]: e for e in (json.loads(p.read_text()) for p in (root / "mini").glob("*.json"))}
    assert entries["Jpeg(quality=75)"]["audit"][0]["status"] == "not audited"
    assert "audit" not in entries[""]  # a plain, undefended detector: nothing to prove beyond its attacks
    record = {"detector": "test_tiny_cnn", "training": "", "defenses": "", "channel": "", "weights_sha256": "0" * 64,
              "dataset": "mini", "image_size": 32, "precision": "float32", "adaptive": False, "not_audited": "",
              "attacks": ["fgsm"], "norm": "linf", "eps": 0.03, "samples": 4, "testable": 4, "successes": 4,
              "success_rate": 1.0, "interval": [0.5, 1.0], "fails_binarization_test": False}
    for broken in ({"not": "a list"}, [{**record, "adaptive": "yes"}], [{**record, "successes": 9}],
                   [{**record, "eps": float("inf")}], [{k: v for k, v in record.items() if k != "norm"}]):
        (results / "audits.json").write_text(json.dumps(broken))
        bad = submit(results, tmp_path / "lb2", cache_dir, "--allow-flags")
        assert bad.exit_code == 2 and "audits file" in bad.output, (broken, bad.output)
    (results / "audits.json").write_text(json.dumps([record]))  # a valid audit of other weights: not this entry's
    assert submit(results, tmp_path / "lb3", cache_dir, "--allow-flags").exit_code == 0


@pytest.mark.slow
def test_run_with_audit_tests_the_defended_views_only(results, lb_grid, cache_dir):
    """About a minute: 32 samples x 999 inner points per view, as `run --audit` does it."""
    ran = invoke("run", "--grid", lb_grid, "--out", results, "--cache", cache_dir, "--audit")
    assert ran.exit_code == 0, ran.output  # the store is finished: nothing reruns, the audit runs
    audits = json.loads((results / "audits.json").read_text())
    assert sorted((a["defenses"], a["adaptive"]) for a in audits) == [("Jpeg(quality=75)", False),
                                                                      ("Jpeg(quality=75)", True)]
    assert "Jpeg(quality=75) naive: binarization test linf 0.03137" in ran.output
