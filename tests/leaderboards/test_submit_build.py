"""`dfbench submit` and `dfbench leaderboard build` through the CLI, and their answers to bad input."""

from __future__ import annotations

import json
import sqlite3

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
