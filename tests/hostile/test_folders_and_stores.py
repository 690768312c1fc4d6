"""Files and folders dfbench writes into: a store, a results folder, a checkpoint cache, a site.
One that dfbench did not make is refused untouched (same bytes, same mtime, no journal files);
hostile weights and cards are refused in one line naming the file."""

from __future__ import annotations

import json
import os
import pickle
import sqlite3

import pytest
import torch
from safetensors.torch import save_file

from .test_grid_files import GRID, PGD


def _foreign_db(path, application_id: int = 0, table: str = "CREATE TABLE cells (name TEXT, price REAL)"):
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute(table)
    conn.execute("INSERT INTO cells DEFAULT VALUES")
    conn.execute(f"PRAGMA application_id={application_id}")
    conn.execute("PRAGMA user_version=5")  # even dfbench's schema number does not make it dfbench's
    conn.commit()
    conn.close()


STORES = {
    "another_programs_cells_table": (lambda p: _foreign_db(p), "is not a dfbench results store"),
    "another_application_id": (lambda p: _foreign_db(p, 0x4D504B47, "CREATE TABLE cells (key TEXT)"),
                               "application id 0x4d504b47"),
    "extra_tables": (lambda p: _foreign_db(p, 0, "CREATE TABLE cells (key TEXT)") or _add_table(p),
                     "is not a dfbench results store"),
    "text_file": (lambda p: p.write_text("my notes"), "is not a dfbench results store"),
    "a_folder": (lambda p: p.mkdir(), "is not a regular file"),
    "a_link": (lambda p: os.symlink(p.parent / "elsewhere.sqlite", p), "is not a regular file"),
}


def _add_table(path):
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE samples (x)")
    conn.execute("CREATE TABLE invoices (x)")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("command", ["run", "table", "submit"])
@pytest.mark.parametrize("case", sorted(STORES))
def test_a_store_dfbench_did_not_make_is_refused_untouched(ws, case, command):
    make, message = STORES[case]
    ws.out.mkdir()
    make(ws.out / "results.sqlite")
    grid = ws.write("g.toml", GRID + PGD)
    args = {"run": ["run", "--grid", grid, "--out", ws.out, "--cache", ws.cache],
            "table": ["table", "--out", ws.out],
            "submit": ["submit", "--out", ws.out, "--leaderboards", ws.root / "lb", "--cache", ws.cache]}[command]
    not_a_file = case in ("a_folder", "a_link") and command != "run"  # these read a store only where one is
    ws.refused(args, "no results store at" if not_a_file else message)


def test_a_results_folder_with_tables_of_its_own_is_refused(ws):
    ws.write("out/leaderboard.csv", "my,own\n1,2\n")
    grid = ws.write("g.toml", GRID + PGD)
    ws.refused(["run", "--grid", grid, "--out", ws.out, "--cache", ws.cache], "holds leaderboard.csv but no dfbench")


NOT_OURS = "was not made by `dfbench leaderboard build`"


def test_a_site_folder_dfbench_did_not_make_is_left_alone(ws):
    from .test_files_read_whole import ENTRY

    ws.write(f"lb/mini/{ENTRY.name}", ENTRY.read_text())
    ws.write("lb/site/my-notes.txt", "mine")
    ws.refused(["leaderboard", "build", "--leaderboards", ws.root / "lb"], NOT_OURS)


def test_a_site_that_is_a_file_is_left_alone(ws):
    from .test_files_read_whole import ENTRY

    ws.write(f"lb/mini/{ENTRY.name}", ENTRY.read_text())
    ws.write("lb/site", "mine")
    ws.refused(["leaderboard", "build", "--leaderboards", ws.root / "lb"], NOT_OURS)


@pytest.mark.parametrize("content,message", [
    ({"photos/cat.jpg": b"\xff\xd8"}, "was not made by dfbench (it holds photos)"),
    ({"notes.txt": b"x"}, "was not made by dfbench (it holds notes.txt)"),
    ({"custom_cnn/model.pt": b"x"}, "was not made by dfbench (it holds custom_cnn)"),
], ids=["photos", "a_file", "other_checkpoints"])
def test_a_cache_folder_dfbench_did_not_make_is_not_trained_into(ws, content, message):
    for name, data in content.items():
        ws.write(f"cache/{name}", data)
    ws.refused(["train", "test_tiny_cnn", "--cache", ws.cache, "--image-size", "32", "--epochs", "1"], message)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_cache_is_one_line(ws):
    ws.cache.mkdir()
    ws.cache.chmod(0o500)
    try:
        ws.refused(["train", "test_tiny_cnn", "--cache", ws.cache, "--image-size", "32", "--epochs", "1"],
                   "cannot write checkpoint cache")
    finally:
        ws.cache.chmod(0o700)


def _weights(ws):
    from dfbench.detectors import create_detector

    state = create_detector("test_tiny_cnn", input_size=(32, 32)).state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, ws.root / "w.safetensors")
    return state


CARD = {"detector": "test_tiny_cnn", "dataset": "mini", "dataset_fingerprint": "f", "input_size": [32, 32],
        "seed": 0, "epochs_run": 1, "best_epoch": 1, "threshold": 0.5, "val": {"acc": 0.5}, "sha256": "0" * 64}
CARDS = {
    "nan_threshold": (json.dumps(CARD).replace('"threshold": 0.5', '"threshold": NaN'),
                      "threshold must be a finite number, got nan"),
    "infinite_threshold": (json.dumps(CARD).replace('"threshold": 0.5', '"threshold": Infinity'), "Infinity"),
    "string_threshold": (json.dumps({**CARD, "threshold": "0.5"}), "threshold must be a number"),
    "bool_seed": (json.dumps({**CARD, "seed": True}), "seed must be an integer"),
    "negative_restarts": (json.dumps({**CARD, "restarts": -1}), "restarts must be"),
    "huge_input_size": (json.dumps({**CARD, "input_size": [10 ** 9, 32]}), "input_size must be in"),
    "infinite_val": (json.dumps(CARD).replace('"acc": 0.5', '"acc": Infinity'), "Infinity is not a JSON number"),
    "string_val": (json.dumps({**CARD, "val": {"acc": "high"}}), "val.acc must be a number"),
    "missing_keys": (json.dumps({"detector": "x"}), "is malformed"),
    "unknown_key": (json.dumps({**CARD, "bonus": 1}), "is malformed"),
    "an_array": ("[1, 2]", "not a JSON object"),
    "not_json": ("{threshold: 0.5", "is not valid JSON"),
    "deeply_nested": ("[" * 100000 + "]" * 100000, "nested too deeply"),
}


@pytest.mark.parametrize("case", sorted(CARDS))
def test_a_hostile_card_beside_given_weights_is_refused(ws, case):
    text, message = CARDS[case]
    _weights(ws)
    ws.write("w.json", text)
    with_weights = GRID.replace('name = "test_tiny_cnn"\n', 'name = "test_tiny_cnn"\nweights = "w.safetensors"\n')
    grid = ws.write("g.toml", with_weights + PGD)
    line = ws.refused(["run", "--grid", grid, "--out", ws.out, "--cache", ws.cache], message, may_change=("out",))
    assert "w.json" in line


class Payload:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


WEIGHTS = {
    "garbage": (lambda ws, state: ws.write("w.safetensors", b"\x00" * 64), "w.safetensors"),
    "truncated": (lambda ws, state: _weights(ws) and ws.write("w.safetensors",
                                                              (ws.root / "w.safetensors").read_bytes()[:100]),
                  "w.safetensors"),
    "pickle_payload": (lambda ws, state: ws.write("w.pt", pickle.dumps({"x": Payload()})), "w.pt"),
    "other_keys": (lambda ws, state: save_file({"fc.weight": torch.zeros(2, 2)}, ws.root / "w.safetensors"),
                   "does not fit"),
    "other_shapes": (lambda ws, state: save_file({k: torch.zeros(*(s + 1 for s in v.shape)) for k, v in state.items()},
                                                 ws.root / "w.safetensors"), "does not fit"),
    "link_to_dev_zero": (lambda ws, state: os.symlink("/dev/zero", ws.root / "w.safetensors"), "does not exist"),
}


@pytest.mark.parametrize("case", sorted(WEIGHTS))
def test_hostile_weights_are_refused_and_never_unpickled(ws, case):
    make, message = WEIGHTS[case]
    from dfbench.detectors import create_detector

    make(ws, create_detector("test_tiny_cnn", input_size=(32, 32)).state_dict())
    name = "w.pt" if case == "pickle_payload" else "w.safetensors"
    grid = ws.write("g.toml", GRID + PGD)
    ws.refused(["run", "--grid", grid, "--detector", "test_tiny_cnn", "--weights", ws.root / name, "--out", ws.out,
                "--cache", ws.cache], message, may_change=("out",))
    assert not (ws.root / "pwned").exists()


def test_all_nan_weights_fail_their_own_cells_and_the_healthy_detector_runs(ws, cache_dir):
    from dfbench.detectors import create_detector

    state = create_detector("custom_cnn", input_size=(32, 32)).state_dict()
    save_file({k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in state.items()},
              ws.root / "nan.safetensors")
    grid = ws.write("g.toml", GRID.replace('name = "test_tiny_cnn"\n', 'name = "custom_cnn"\n'
                                           'weights = "nan.safetensors"\n[[detectors]]\nname = "test_tiny_cnn"\n')
                    + '[[attacks]]\nname = "fgsm"\neps = ["2/255"]\n')
    from typer.testing import CliRunner

    from dfbench.cli import app

    result = CliRunner().invoke(app, ["run", "--grid", str(grid), "--out", str(ws.out), "--cache", str(cache_dir)])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "2 cells: 1 run, 0 already done, 1 failed" in result.stdout
    from dfbench.benchmark.store import Store

    store = Store(ws.out / "results.sqlite")
    failed, ok = store.records(status="failed"), store.records()
    store.close()
    assert list(failed.detector) == ["custom_cnn"] and "scores are NaN or infinite" in failed.error[0]
    assert list(ok.detector) == ["test_tiny_cnn"]


def test_a_store_whose_writer_died_before_closing_it_is_resumed(ws):
    """A killed run leaves its tables in the WAL, not yet in the main file: still dfbench's store."""
    import subprocess
    import sys

    db = ws.out / "results.sqlite"
    code = ("import os, sys, sqlite3; from dfbench.benchmark.store import Store; s = Store(sys.argv[1]); "
            "s.conn.execute('PRAGMA application_id=0'); s.conn.execute('PRAGMA user_version=5'); s.conn.commit(); "
            "os._exit(0)")  # an older dfbench's store (no id yet), its writer killed
    subprocess.run([sys.executable, "-c", code, str(db)], check=True)
    from dfbench.benchmark.store import Store

    Store(db).close()


@pytest.mark.parametrize("folder", ["run#1", "run?x", "a%20b"])
def test_a_store_path_with_uri_characters_reopens(ws, folder):
    from dfbench.benchmark.store import Store

    Store(ws.root / folder / "results.sqlite").close()
    Store(ws.root / folder / "results.sqlite").close()
    assert {p.name for p in ws.root.iterdir()} == {folder}  # no stray file cut at the '#' or '?'
