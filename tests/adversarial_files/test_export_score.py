"""Adversarial examples as files: export then score gives the in-memory numbers up to 8-bit
rounding; broken files are skipped and counted; manifests cannot reach outside their folder."""

import hashlib
import json
import os
import shutil

import pytest
import torch

from dfbench.adversarial_files.export import export_results
from dfbench.adversarial_files.manifest import read_manifest
from dfbench.adversarial_files.media import decode, encode, to_uint8
from dfbench.adversarial_files.score import grid_doc, score_folder
from dfbench.benchmark.driver import run_grid
from dfbench.benchmark.grid import load_grid, parse_grid
from dfbench.benchmark.plan import plan
from dfbench.benchmark.prepare import load_for_grid
from dfbench.benchmark.store import Store
from dfbench.benchmark.worker import Worker
from dfbench.channels import to_8bit
from dfbench.errors import DfbenchError
from tests.conftest import tiny_grid

ATTACKS = '[[attacks]]\nname = "pgd"\nbackend = "native"\nsteps = 5\neps = ["8/255"]\n' \
          '[[channels]]\njpeg = { quality = 75 }\n'


@pytest.fixture(scope="module")
def run(cache_dir, trained_tiny, tmp_path_factory):
    """A tiny grid run (raw + JPEG-75 naive and channel-aware) and its export as PNG."""
    tmp = tmp_path_factory.mktemp("exported")
    (tmp / "grid.toml").write_text(tiny_grid("exported", ATTACKS))
    grid, store = load_grid(tmp / "grid.toml"), Store(tmp / "results.sqlite")
    assert run_grid(grid, store, cache_dir).ran == 3
    summary = export_results(grid, store, cache_dir, tmp / "files", "png", [])
    assert (summary.files, len(summary.cells), summary.not_reproduced) == (3 * 48, 3, [])
    return grid, store, tmp


def _score(folder, cache_dir, out):
    grid = parse_grid(grid_doc(read_manifest(folder), "test_tiny_cnn"))
    store = Store(out / "results.sqlite")
    return score_folder(folder, grid, store, cache_dir), store


def test_exported_files_score_as_the_in_memory_examples_rounded_to_8_bits(run, cache_dir, tmp_path):
    grid, store, tmp = run
    summary, scored = _score(tmp / "files", cache_dir, tmp_path)
    assert (summary.cells, summary.files, summary.skipped) == (3, 3 * 48, [])
    raw = store.records().query("channel == ''").iloc[0]
    job = next(j for j in plan(grid, set(), load_for_grid(grid, cache_dir)).jobs if j.defense is None)
    worker = Worker(grid, cache_dir)
    detector, (x_adv,) = worker.craft(job)
    in_memory = worker.scores(detector, to_8bit(x_adv)).double()
    records = scored.records()
    key = next(k for k, p in zip(records.key, records.attack_params)
               if json.loads(p)["view"] == "test_tiny_cnn pgd native linf 8/255")
    from_files = torch.tensor(scored.samples().query("key == @key").sort_values("idx").adv_score.to_numpy())
    assert torch.allclose(from_files, in_memory, atol=1e-6)  # the files hold exactly the rounded examples
    floats = torch.tensor(store.samples().query("key == @raw.key").sort_values("idx").adv_score.to_numpy())
    differ = int(((from_files >= raw.threshold) != (floats >= raw.threshold)).sum())
    assert differ <= 2  # 8-bit rounding flips at most a couple of the 48 decisions (0 on this machine)


def test_the_manifest_records_the_saved_files_distance_and_hash(run):
    _, _, tmp = run
    manifest = read_manifest(tmp / "files")
    item = max(manifest["files"], key=lambda f: f["linf"])
    assert item["linf"] <= 8 / 255 + 0.5 / 255 + 1e-6  # the budget, plus at most half a level of rounding
    data = (tmp / "files" / item["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == item["sha256"]
    assert manifest["dataset"]["name"] == "mini" and manifest["made_by"].startswith("dfbench")


def test_broken_missing_and_mismatched_files_are_skipped_and_counted(run, cache_dir, tmp_path):
    _, _, tmp = run
    folder = tmp_path / "files"
    shutil.copytree(tmp / "files", folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    files = manifest["files"]
    for item in files:  # a manifest from another tool: no hashes, so the files' own faults show
        del item["sha256"]
    (folder / files[0]["file"]).write_bytes(b"not a png at all")
    (folder / files[1]["file"]).unlink()
    (folder / files[2]["file"]).write_bytes(encode(torch.rand(3, 16, 16), "png"))  # another shape
    files[3]["label"] = 1 - files[3]["label"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    summary, store = _score(folder, cache_dir, tmp_path / "results")
    assert summary.files == 3 * 48 - 4 and len(summary.skipped) == 4
    reasons = " | ".join(summary.skipped)
    assert "does not decode" in reasons and "does not exist" in reasons and "holds 16x16 frames" in reasons
    assert "label 1 but" in reasons or "label 0 but" in reasons
    assert store.records().n_samples.unique().tolist() == [48]  # skipped samples scored clean, not dropped


@pytest.mark.parametrize("name", ["../outside.png", "/etc/passwd", "link/x.png"])
def test_a_manifest_naming_files_outside_its_folder_is_refused(run, tmp_path, name):
    _, _, tmp = run
    manifest = json.loads((tmp / "files" / "manifest.json").read_text())
    manifest["files"][0]["file"] = name
    folder = tmp_path / "files"
    folder.mkdir()
    os.symlink(tmp_path.parent, folder / "link")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DfbenchError, match="outside the folder"):
        read_manifest(folder)


@pytest.mark.parametrize("make, message", [
    (lambda: encode(torch.rand(3, 32, 32), "jpeg"), "is a JPEG file"),  # a JPEG named .png
    (lambda: _pil_bytes("GIF"), "is a GIF file"),
    (lambda: _pil_bytes("PNG", frames=3), "with 3 frame"),  # an animated PNG
    (lambda: _pil_bytes("PNG", mode="I;16"), "not 8-bit ones"),
    (lambda: b"ffconcat version 1.0\nfile other.mp4\n", "does not decode"),  # never followed
])
def test_a_file_that_is_not_what_its_suffix_says_is_one_line(make, message):
    fmt = "mp4" if message == "does not decode" else "png"
    with pytest.raises(DfbenchError, match=message):
        decode(make(), fmt, (3, 32, 32) if fmt == "png" else (4, 3, 32, 32))


def _pil_bytes(fmt: str, frames: int = 1, mode: str = "RGB") -> bytes:
    import io

    from PIL import Image

    images = [Image.new(mode, (32, 32), i * 40) for i in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, format=fmt, save_all=frames > 1, append_images=images[1:])
    return buffer.getvalue()


def test_clips_round_trip_through_lossless_mp4():
    clip = torch.rand(8, 3, 32, 32)
    assert torch.equal(decode(encode(clip, "mp4"), "mp4", (8, 3, 32, 32)), to_uint8(clip).float() / 255)
    with pytest.raises(DfbenchError, match="decodes to shape"):
        decode(encode(clip, "mp4"), "mp4", (4, 3, 32, 32))


def test_an_mp4_without_a_video_stream_is_one_line():
    import io

    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        out.add_stream("aac", rate=44100)
    with pytest.raises(DfbenchError, match="mp4"):
        decode(buffer.getvalue(), "mp4", (8, 3, 32, 32))


@pytest.mark.parametrize("change, message", [
    (lambda m: m["files"][0].update(sample=2.0), "must be integers"),
    (lambda m: m["files"][0].update(file="a\x00b.png"), "not a usable path"),
    (lambda m: m["dataset"].setdefault("params", {}).update(root="/"), "may not set root"),
    (lambda m: m["dataset"].setdefault("params", {}).update(split="train"), "may not set split"),
    (lambda m: m.update(files=[]), "does not match the manifest schema"),
])
def test_a_hostile_manifest_is_refused_whole(run, tmp_path, change, message):
    _, _, tmp = run
    manifest = json.loads((tmp / "files" / "manifest.json").read_text())
    change(manifest)
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DfbenchError, match=message):
        read_manifest(tmp_path)


def test_a_file_changed_after_its_manifest_is_skipped_and_its_cell_flagged(run, cache_dir, tmp_path):
    _, _, tmp = run
    folder = tmp_path / "files"
    shutil.copytree(tmp / "files", folder)
    first = json.loads((folder / "manifest.json").read_text())["files"][0]
    (folder / first["file"]).write_bytes(encode(torch.zeros(3, 32, 32), "png"))  # valid, but not the file hashed
    summary, store = _score(folder, cache_dir, tmp_path / "results")
    assert len(summary.skipped) == 1 and "sha256" in summary.skipped[0]
    flagged = store.records().query("detector_flags == 'files_skipped'")
    assert len(flagged) == 1 and first["view"] in flagged.attack_params.iloc[0]
