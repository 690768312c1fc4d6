"""`dfbench score`: re-score a folder of adversarial files against the clean set its manifest names.

The files may come from anywhere (``dfbench export``, ART, a hand-made set): each replaces its
clean sample, files are grouped into cells by (attack, norm, eps, view), and each cell is scored
by the detector (trained from the checkpoint cache as a grid trains it, or ``--model`` /
``--weights``) and stored like a run's cell. The numbers' protocol is named after the files
(``external-<made_by>@<digest of the manifest and the data>``), so they rank only with numbers
on the very same files, and their entries say ``"external": true``.

Files are scored as they are, by the detector alone: a channel named in a file's view is not
applied again (export writes what the attacker uploads). A file that is missing, does not
decode, has another shape or sha256 than its manifest says, names a sample out of range, gives
its sample another label, or repeats a sample of its cell is skipped, named and counted; its
sample is scored clean in that cell (the attacker delivered nothing for it) and the cell is
flagged ``files_skipped`` (which blocks ``submit`` without ``--allow-flags``). A cell with no
usable file is not stored. The protocol's digest covers the manifest and every file's bytes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from ..attacks.base import AttackKind
from ..benchmark.cells import AttackSpec, Cell
from ..benchmark.grid import Grid
from ..benchmark.jobs import Job, cell_record
from ..benchmark.prepare import load_for_grid
from ..benchmark.protocol import protocol_id
from ..benchmark.store import Store
from ..benchmark.worker import Worker
from ..errors import DfbenchError
from ..metrics.cell import CellData, compute_metrics
from ..safe_files import read_bytes
from .manifest import load_manifest
from .media import MAX_FILE_BYTES, read

log = logging.getLogger(__name__)
FORMAT_OF = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".mp4": "mp4"}


FILES_SKIPPED = "files_skipped"  # a cell flag: some samples had no usable file and were scored clean


@dataclass
class ScoreSummary:
    cells: int = 0
    files: int = 0  # read and scored
    skipped: list[str] = field(default_factory=list)  # "file: why"
    empty: list[str] = field(default_factory=list)  # cells with no usable file at all: not stored


def grid_doc(manifest: dict, detector: str) -> dict:
    """A grid document for the manifest's clean set and the registered ``detector`` (the CLI puts a
    ``--model`` in its place with ``overrides.one_detector``)."""
    ds = manifest["dataset"]  # its params hold no paths nor the fields below (manifest.read_manifest)
    data = {"dataset": ds["name"], "image_size": ds["image_size"], "split": ds["split"], **ds.get("params", {})}
    if ds.get("max_samples") is not None:
        data["max_samples"] = ds["max_samples"]
    return {"name": "external", "data": data, "detectors": [{"name": detector}],
            "attacks": [{"name": "fgsm", "eps": [0]}]}  # a placeholder: nothing is attacked


def score_folder(folder: Path, grid: Grid, store: Store, cache_dir: Path,
                 device: torch.device = torch.device("cpu")) -> ScoreSummary:
    """Score every file of ``folder``'s manifest with ``grid``'s one detector into ``store``."""
    folder = Path(folder)
    manifest, manifest_sha = load_manifest(folder)
    prepared = load_for_grid(grid, cache_dir, device)
    spec = grid.detectors[0]
    if repr(spec) not in prepared.trained:
        raise DfbenchError(f"{spec.name} could not be loaded: {prepared.untrainable.get(repr(spec), 'unknown')}")
    trained = prepared.trained[repr(spec)]
    fingerprint = manifest["dataset"].get("fingerprint")
    if fingerprint and fingerprint != prepared.data.fingerprint:
        raise DfbenchError(f"{folder}: the files perturb another version of {grid.dataset} (fingerprint "
                           f"{fingerprint[:12]}..., here {prepared.data.fingerprint[:12]}...)")
    worker = Worker(grid, cache_dir, prepared.trained, device)
    clean, labels = worker.split.images.cpu(), worker.split.labels
    summary = ScoreSummary()
    hashes = _hashes(folder, manifest["files"], len(clean), labels, summary)
    # the numbers are about these very bytes: the protocol covers the manifest and every listed file
    # (its sha256, or that it could not be used), by name
    files = {item["file"]: hashes.get(item["file"], "unusable") for item in manifest["files"]}
    digest = hashlib.sha256(json.dumps([manifest_sha, files], sort_keys=True).encode()).hexdigest()
    label = re.sub(r"[^A-Za-z0-9_.-]+", "-", manifest["made_by"]).strip("-")[:40] or "files"
    protocol = protocol_id(f"external-{label}", digest, grid.split, grid.image_size, grid.max_samples)
    clean_scores = worker.scores(trained.detector, worker.split.images)
    groups: dict[tuple, list[dict]] = {}
    for item in manifest["files"]:
        groups.setdefault((item["attack"], item["norm"], float(item["eps"]), item.get("view", "")), []).append(item)
    done = store.done_keys()
    for (attack, norm, eps, view), items in groups.items():
        cell = Cell(spec, AttackSpec(attack, norm, "external", (eps,), {"files": digest[:16], "view": view}), eps)
        key = hashlib.sha256(json.dumps([cell.spec(grid), trained.weights_sha256, prepared.data.fingerprint],
                                        sort_keys=True).encode()).hexdigest()[:32]
        if key in done:
            continue
        start, x_adv, read_files, skipped = time.perf_counter(), clean.clone(), set[int](), 0
        for item in items:
            if item["file"] not in hashes:  # refused in the first pass (counted there)
                skipped += 1
                continue
            if item["sample"] in read_files:
                summary.skipped.append(f"{item['file']}: sample {item['sample']} already has a file in this cell")
                skipped += 1
                continue
            try:
                fmt = FORMAT_OF[Path(item["file"]).suffix.lower()]
                x_adv[item["sample"]] = read(folder / item["file"], folder, fmt, tuple(clean.shape[1:]),
                                             hashes[item["file"]])
                read_files.add(item["sample"])
            except DfbenchError as exc:
                summary.skipped.append(f"{item['file']}: {exc}")
                skipped += 1
        if not read_files:
            summary.empty.append(view or f"{attack} {norm} {eps:g}")
            continue
        adv_scores = worker.scores(trained.detector, x_adv)
        metrics = compute_metrics(CellData(clean, x_adv, labels.cpu(), clean_scores.cpu(), adv_scores.cpu(),
                                           trained.threshold, None))
        job = Job(spec, None, False, (), frozenset(), trained.weights_sha256, trained.threshold,
                  prepared.data.fingerprint, len(clean), prepared.data_info)
        record = cell_record(cell, grid, job, key=key, status="ok", metrics=metrics, attack_kind=AttackKind.EXTERNAL,
                             seconds=time.perf_counter() - start, detector_flags=FILES_SKIPPED if skipped else "")
        record = replace(record, protocol=protocol, grid=f"external:{manifest['made_by']}"[:200], grid_sha256=digest)
        store.put(record, labels.tolist(), clean_scores.tolist(), adv_scores.tolist())
        summary.cells, summary.files = summary.cells + 1, summary.files + len(read_files)
    for line in summary.skipped[:20]:
        log.warning("skipped %s", line)
    return summary


def _hashes(folder: Path, items: list[dict], n: int, labels: torch.Tensor, summary: ScoreSummary) -> dict[str, str]:
    """First pass: the sha256 of every usable file (bounded reads), checked against the manifest's;
    files that cannot be used are counted in ``summary.skipped``."""
    out = {}
    for item in items:
        why = _check(item, n, labels)
        if not why:
            try:
                data = read_bytes(folder / item["file"], "adversarial file", MAX_FILE_BYTES, root=folder)
                sha = hashlib.sha256(data).hexdigest()
                if "sha256" in item and item["sha256"] != sha:
                    why = "its sha256 is not the manifest's (changed since the manifest was written)"
                else:
                    out[item["file"]] = sha
                    continue
            except DfbenchError as exc:
                why = str(exc)
        summary.skipped.append(f"{item['file']}: {why}")
    return out


def _check(item: dict, n: int, labels: torch.Tensor) -> str:
    """Why a manifest item cannot replace its sample ('' if it can)."""
    if Path(item["file"]).suffix.lower() not in FORMAT_OF:
        return f"not a {', '.join(FORMAT_OF)} file"
    if item["sample"] >= n:
        return f"sample {item['sample']} is out of range (the clean set has {n})"
    if "label" in item and item["label"] != int(labels[item["sample"]]):
        return f"label {item['label']} but sample {item['sample']} is labelled {int(labels[item['sample']])}"
    return ""
