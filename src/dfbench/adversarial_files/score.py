"""`dfbench score`: re-score a folder of adversarial files against the clean set its manifest names.

The files may come from anywhere (``dfbench export``, ART, a hand-made set): each replaces its
clean sample, files are grouped into cells by (attack, norm, eps, view), and each cell is scored
by the detector (trained from the checkpoint cache as a grid trains it, or ``--model`` /
``--weights``) and stored like a run's cell. The numbers' protocol is named after the files
(``external-<made_by>@<digest of the manifest and the data>``), so they rank only with numbers
on the very same files, and their entries say ``"external": true``.

A file that is missing, does not decode, has another shape, names a sample out of range, gives
its sample another label, or repeats a sample of its cell is skipped, named and counted; its
sample is scored clean in that cell (the attacker delivered nothing for it).
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
from .manifest import NAME, read_manifest
from .media import read

log = logging.getLogger(__name__)
FORMAT_OF = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".mp4": "mp4"}


@dataclass
class ScoreSummary:
    cells: int = 0
    files: int = 0  # read and scored
    skipped: list[str] = field(default_factory=list)  # "file: why"


def grid_doc(manifest: dict) -> dict:
    """A grid document for the manifest's clean set (its detector comes from the command line)."""
    ds = manifest["dataset"]
    data = {"dataset": ds["name"], "image_size": ds["image_size"], "split": ds["split"], **ds.get("params", {})}
    if ds.get("max_samples") is not None:
        data["max_samples"] = ds["max_samples"]
    return {"name": "external", "data": data, "detectors": [{"name": "test_tiny_cnn"}],
            "attacks": [{"name": "fgsm", "eps": [0]}]}  # placeholders: nothing is attacked


def score_folder(folder: Path, grid: Grid, store: Store, cache_dir: Path,
                 device: torch.device = torch.device("cpu")) -> ScoreSummary:
    """Score every file of ``folder``'s manifest with ``grid``'s one detector into ``store``."""
    manifest = read_manifest(folder)
    digest = hashlib.sha256((Path(folder) / NAME).read_bytes()).hexdigest()
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
    clean_scores = worker.scores(trained.detector, worker.split.images)
    label = re.sub(r"[^A-Za-z0-9_.-]+", "-", manifest["made_by"]).strip("-")[:40] or "files"
    protocol = protocol_id(f"external-{label}", digest, grid.split, grid.image_size, grid.max_samples)
    groups: dict[tuple, list[dict]] = {}
    for item in manifest["files"]:
        groups.setdefault((item["attack"], item["norm"], float(item["eps"]), item.get("view", "")), []).append(item)
    summary, done = ScoreSummary(), store.done_keys()
    for (attack, norm, eps, view), items in groups.items():
        cell = Cell(spec, AttackSpec(attack, norm, "external", (eps,), {"files": digest[:16], "view": view}), eps)
        job = Job(spec, None, False, (), frozenset(), trained.weights_sha256, trained.threshold,
                  prepared.data.fingerprint, len(clean), prepared.data_info)
        key = hashlib.sha256(json.dumps([cell.spec(grid), trained.weights_sha256, prepared.data.fingerprint],
                                        sort_keys=True).encode()).hexdigest()[:32]
        if key in done:
            continue
        start = time.perf_counter()
        x_adv, read_files = clean.clone(), set[int]()
        for item in items:
            why = _check(item, len(clean), labels, read_files)
            if not why:
                try:
                    x_adv[item["sample"]] = read(Path(folder) / item["file"], Path(folder),
                                                 FORMAT_OF[Path(item["file"]).suffix.lower()], tuple(clean.shape[1:]))
                    read_files.add(item["sample"])
                    continue
                except DfbenchError as exc:
                    why = str(exc)
            summary.skipped.append(f"{item['file']}: {why}")
        adv_scores = worker.scores(trained.detector, x_adv)
        metrics = compute_metrics(CellData(clean, x_adv, labels.cpu(), clean_scores.cpu(), adv_scores.cpu(),
                                           trained.threshold, None))
        record = cell_record(cell, grid, job, key=key, status="ok", metrics=metrics, attack_kind=AttackKind.EXTERNAL,
                             seconds=time.perf_counter() - start)
        record = replace(record, protocol=protocol, grid=f"external:{manifest['made_by']}"[:200], grid_sha256=digest)
        store.put(record, labels.tolist(), clean_scores.tolist(), adv_scores.tolist())
        summary.cells, summary.files = summary.cells + 1, summary.files + len(read_files)
    for line in summary.skipped[:20]:
        log.warning("skipped %s", line)
    return summary


def _check(item: dict, n: int, labels: torch.Tensor, seen: set[int]) -> str:
    """Why a manifest item cannot replace its sample ('' if it can)."""
    if Path(item["file"]).suffix.lower() not in FORMAT_OF:
        return f"not a {', '.join(FORMAT_OF)} file"
    if item["sample"] >= n:
        return f"sample {item['sample']} is out of range (the clean set has {n})"
    if "label" in item and item["label"] != int(labels[item["sample"]]):
        return f"label {item['label']} but sample {item['sample']} is labelled {int(labels[item['sample']])}"
    if item["sample"] in seen:
        return f"sample {item['sample']} already has a file in this cell"
    return ""
