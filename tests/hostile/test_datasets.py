"""Hostile datasets on disk: label and metadata files are bounded regular files (a broken one is
one line naming it; a link to one elsewhere is fine: datasets are often assembled with links); a
label that names a file outside the root, an unknown label or a file that is no image is a
counted skip."""

from __future__ import annotations

import json
import os

import pytest

from dfbench.data.layouts.celebdf import celebdf
from dfbench.data.layouts.dfdc import dfdc
from dfbench.data.layouts.faces140k import faces140k
from dfbench.data.layouts.ffpp import ffpp
from dfbench.data.media import MediaError, read_image, read_video
from dfbench.errors import DfbenchError


def _dfdc(root, text):
    part = root / "dfdc_train_part_0"
    part.mkdir(parents=True)
    (part / "a.mp4").write_bytes(b"")
    if callable(text):
        text(part / "metadata.json")
    else:
        (part / "metadata.json").write_text(text)


def _celebdf(root, text):
    for folder in ("Celeb-real", "Celeb-synthesis", "YouTube-real"):
        (root / folder).mkdir(parents=True)
    if callable(text):
        text(root / "List_of_testing_videos.txt")
    else:
        (root / "List_of_testing_videos.txt").write_text(text)


def _ffpp(root, text):
    for folder in ("original_sequences/youtube", "manipulated_sequences/Deepfakes"):
        (root / folder / "c23" / "videos").mkdir(parents=True)
    (root / "splits").mkdir(parents=True)
    for name in ("train.json", "val.json", "test.json"):
        (root / "splits" / name).write_text('[["000", "001"]]')
    if callable(text):
        (root / "splits" / "test.json").unlink()
        text(root / "splits" / "test.json")
    else:
        (root / "splits" / "test.json").write_text(text)


def _faces140k(root, text):
    root.mkdir(parents=True, exist_ok=True)
    for name in ("train.csv", "valid.csv"):
        (root / name).write_text("label_str,path\nreal,a.jpg\n")
    if callable(text):
        text(root / "test.csv")
    else:
        (root / "test.csv").write_bytes(text if isinstance(text, bytes) else text.encode())


def _link_out(target: str):
    return lambda path: os.symlink(target, path)


BROKEN = {
    "dfdc_nan_label": (dfdc, _dfdc, '{"a.mp4": {"label": NaN}}', "NaN is not a JSON number"),
    "dfdc_not_an_object": (dfdc, _dfdc, "[1, 2]", "not a JSON object"),
    "dfdc_deep": (dfdc, _dfdc, "[" * 100000 + "]" * 100000, "nested too deeply"),
    "dfdc_truncated": (dfdc, _dfdc, '{"a.mp4": {"lab', "is not valid JSON"),
    "dfdc_link_to_dev_zero": (dfdc, _dfdc, _link_out("/dev/zero"), "is not a regular file"),
    "dfdc_fifo": (dfdc, _dfdc, os.mkfifo, "is not a regular file"),
    "celebdf_link_to_dev_zero": (celebdf, _celebdf, _link_out("/dev/zero"), "is not a regular file"),
    "celebdf_link_loop": (celebdf, _celebdf, lambda p: os.symlink(p, p), "cannot read"),
    "celebdf_fifo": (celebdf, _celebdf, os.mkfifo, "is not a regular file"),
    "celebdf_not_utf8": (celebdf, _celebdf, lambda p: p.write_bytes(b"1 \xff\xfe.mp4\n"), "is not UTF-8 text"),
    "ffpp_not_pairs": (ffpp, _ffpp, '[["000"]]', "is not a list of id pairs"),
    "ffpp_infinity": (ffpp, _ffpp, '[[Infinity, "1"]]', "Infinity is not a JSON number"),
    "ffpp_link_to_dev_zero": (ffpp, _ffpp, _link_out("/dev/zero"), "is not a regular file"),
    "faces140k_missing_columns": (faces140k, _faces140k, "a,b\n1,2\n", "lacks the columns label_str and path"),
    "faces140k_not_utf8": (faces140k, _faces140k, b"label_str,path\n\xff,x\n", "is not UTF-8 text"),
    "faces140k_link_to_dev_zero": (faces140k, _faces140k, _link_out("/dev/zero"), "is not a regular file"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_label_file_is_one_line_naming_it(tmp_path, case):
    layout, make, text, message = BROKEN[case]
    root = tmp_path / "data"
    make(root, text)
    with pytest.raises(DfbenchError, match=message) as info:
        layout(root)
    assert "\n" not in str(info.value) and str(root) in str(info.value)


def test_a_label_file_linked_from_elsewhere_is_read(tmp_path):
    elsewhere = tmp_path / "splits-copy.json"
    elsewhere.write_text('[["000", "001"]]')
    _ffpp(tmp_path / "data", lambda path: os.symlink(elsewhere, path))
    items, missing = ffpp(tmp_path / "data")
    # read: each split's pair names 2 originals and 2 fakes, all absent on this empty tree
    assert len(missing) == 12 and all("named in the official splits" in reason for _, reason in missing)


SKIPPED = {
    "dfdc_unknown_label": (dfdc, _dfdc, {"a.mp4": {"label": "MAYBE"}}, "label 'MAYBE'"),
    "dfdc_label_a_number": (dfdc, _dfdc, {"a.mp4": {"label": 7}}, "label '7'"),
    "dfdc_named_file_absent": (dfdc, _dfdc, {"b.mp4": {"label": "REAL"}}, "not found"),
    "celebdf_bad_line": (celebdf, _celebdf, "2 Celeb-real/x.mp4\n", "is not '<0|1> <folder>/<file>'"),
    "celebdf_unknown_folder": (celebdf, _celebdf, "1 ../../etc/x.mp4\n", "is not '<0|1> <folder>/<file>'"),
}


@pytest.mark.parametrize("case", sorted(SKIPPED))
def test_a_bad_line_of_a_label_file_is_a_counted_skip(tmp_path, case):
    layout, make, content, reason = SKIPPED[case]
    root = tmp_path / "data"
    make(root, json.dumps(content) if isinstance(content, dict) else content)
    items, missing = layout(root)
    assert len(missing) == 1 and reason in missing[0][1], missing


def test_a_label_file_naming_files_outside_the_root_gets_them_skipped_and_counted(tmp_path):
    from dfbench.data.files import LoadSettings, load_items

    root = tmp_path / "data"
    _dfdc(root, json.dumps({"../../outside.mp4": {"label": "FAKE"}, "/etc/hostname": {"label": "REAL"}}))
    (tmp_path / "outside.mp4").write_bytes(b"")
    items, missing = dfdc(root)
    with pytest.raises(DfbenchError, match=r"no usable samples .* 2 skipped"):
        load_items("dfdc", root, items, LoadSettings(), cache_dir=tmp_path / "crops", missing=missing)


@pytest.mark.parametrize("make", [
    lambda p: os.symlink("/dev/zero", p), os.mkfifo, lambda p: p.mkdir(),
], ids=["link_to_dev_zero", "fifo", "folder"])
@pytest.mark.parametrize("read", [read_image, lambda p: read_video(p, 4)], ids=["image", "video"])
def test_media_that_is_no_regular_file_is_a_media_error_not_a_hang(tmp_path, make, read):
    path = tmp_path / "x.png"
    make(path)
    with pytest.raises(MediaError, match="not a regular file"):
        read(path)


def test_a_broken_label_file_through_the_cli_is_one_line(ws):
    from .test_grid_files import GRID, PGD

    _dfdc(ws.root / "data", '{"a.mp4": {"label": NaN}}')
    grid = ws.write("g.toml", GRID + PGD)
    ws.refused(["run", "--grid", grid, "--dataset", "dfdc", "--data-root", ws.root / "data", "--out", ws.out,
                "--cache", ws.cache], "NaN is not a JSON number", may_change=("out",))
