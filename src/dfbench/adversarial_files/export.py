"""`dfbench export`: a run's adversarial examples as real 8-bit files, with a manifest.

The store keeps scores, not images, so export crafts the selected stored cells again: the same
grid, weights and seeds give the same examples, which is checked: each re-crafted set is scored
as the run scored it, and a cell whose scores differ from the stored ones is not written (named
and counted). Each example is saved as the attacker would upload it: PNG (lossless), JPEG (at
``quality``) or, for clips, lossless MP4. The manifest records per file the clean sample and its
label, the attack, the view it was crafted on, the L-inf and L2 distance of the *saved* file to
the clean sample, and the file's sha256.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import __version__
from ..attacks.base import eps_label
from ..benchmark.cells import Cell
from ..benchmark.grid import Grid
from ..benchmark.plan import plan
from ..benchmark.prepare import load_for_grid
from ..benchmark.store import Store
from ..benchmark.worker import Worker
from ..errors import DfbenchError
from ..safe_files import claim_folder
from .manifest import NAME, write_manifest
from .media import FORMATS, SUFFIX, decode, encode

log = logging.getLogger(__name__)
MARKER = ".dfbench-export"
SCORE_TOLERANCE = 1e-5  # re-crafted examples must score as the stored ones, to this


@dataclass
class ExportSummary:
    files: int = 0
    cells: list[str] = field(default_factory=list)  # written
    not_reproduced: list[str] = field(default_factory=list)  # re-crafted examples scored otherwise: not written


def describe(cell: Cell) -> str:
    """``custom_cnn 8bit -> jpeg(quality=75) adaptive pgd native linf 8/255``: what --cells matches."""
    view = f"{cell.defense.name} {'adaptive' if cell.adaptive else 'naive'}" if cell.defense else ""
    return " ".join(w for w in (cell.detector.name, cell.detector.training_name, view, cell.attack.name,
                                cell.attack.backend, eps_label(cell.attack.norm, cell.eps)) if w)


def export_results(grid: Grid, store: Store, cache_dir: Path, to: Path, fmt: str, select: list[str],
                   quality: int = 95, device: torch.device = torch.device("cpu")) -> ExportSummary:
    """Write the stored cells of ``grid`` whose description holds every word of ``select`` to ``to``."""
    records = store.records()
    batch = dict(zip(records.key, records.batch_size))  # a run scores and draws per batch: use its own
    stored = set(batch)
    if not stored:
        raise DfbenchError(f"{store.path} holds no finished cells to export")
    prepared = load_for_grid(grid, cache_dir, device)
    modality = prepared.data.modality
    if FORMATS[fmt] != modality:
        wanted = [f for f, m in FORMATS.items() if m == modality]
        raise DfbenchError(f"--format {fmt} is for {FORMATS[fmt]}s; {grid.dataset} holds {modality}s: use "
                           + " or ".join(wanted))
    jobs = plan(grid, set(), prepared).jobs
    wanted_cells = {k for job in jobs for c, k in (*job.cells, *job.mirrors)
                    if k in stored and all(w.lower() in describe(c).lower() for w in select)}
    if not wanted_cells:
        raise DfbenchError(f"no stored cell of grid {grid.name} in {store.path} matches --cells {' '.join(select)!r}")
    claim_folder(to, MARKER, "export folder")
    samples = store.samples().set_index("key")
    worker, summary, files = Worker(grid, cache_dir, prepared.trained, device), ExportSummary(), []
    split = worker.split
    clean = split.images.cpu()
    for job in jobs:
        if not wanted_cells & {k for _, k in (*job.cells, *job.mirrors)}:
            continue
        scored, x_advs = worker.craft(job, int(batch[next(k for _, k in job.new_cells if k in batch)]) or None)
        for cell, key, x_adv in job.with_examples(x_advs):
            if key not in wanted_cells:
                continue
            name = describe(cell)
            kept = torch.tensor(samples.loc[[key]].sort_values("idx").adv_score.to_numpy())
            again = worker.scores(scored, x_adv, int(batch[key]) or None).cpu().double()
            if len(kept) != len(again) or (kept - again).abs().max() > SCORE_TOLERANCE:
                log.warning("%s: re-crafted examples do not score as the run's (another machine or version?); "
                            "not written", name)
                summary.not_reproduced.append(name)
                continue
            folder = re.sub(r"[^A-Za-z0-9_.]+", "-", name).strip("-")[:100] + f"-{key[:8]}"
            (to / folder).mkdir(parents=True, exist_ok=True)
            for i, (x, x0, y) in enumerate(zip(x_adv.cpu(), clean, split.labels.tolist())):
                data = encode(x, fmt, quality)
                saved = decode(data, fmt, tuple(x.shape)) - x0
                path = f"{folder}/{i:05d}-{'fake' if y else 'real'}{SUFFIX[fmt]}"
                (to / path).write_bytes(data)
                files.append({"file": path, "sample": i, "label": int(y), "attack": cell.attack.name,
                              "norm": cell.attack.norm, "eps": cell.eps, "view": name,
                              "linf": float(saved.abs().max()), "l2": float(saved.flatten().norm()),
                              "sha256": hashlib.sha256(data).hexdigest()})
            summary.cells.append(name)
    if files:
        dataset = {"name": grid.dataset, "split": grid.split, "image_size": grid.image_size,
                   "max_samples": grid.max_samples, "fingerprint": prepared.data.fingerprint,
                   "params": grid.keyed_data_params()}
        write_manifest(to, f"dfbench {__version__} export", dataset, files)
        log.info("%d files and %s in %s", len(files), NAME, to)
    summary.files = len(files)
    return summary
