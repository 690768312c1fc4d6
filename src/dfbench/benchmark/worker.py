"""The worker: runs a grid's jobs in one process (craft, score, measure -> records).

It keeps what jobs share: the data split, the detectors, clean scores per detector and
defense, probe flags per view, the batch that fits per view, and transfer examples.
"""

from __future__ import annotations

import logging
import time
from dataclasses import fields as dataclass_fields
from dataclasses import replace
from pathlib import Path

import torch
from torch import Tensor

from ..data.base import Split
from ..defenses import attack_view
from ..detectors.autocast import Autocast
from ..detectors.base import Detector, DetectorOutputError
from ..device import is_out_of_memory, place, staged, to_device
from ..metrics.cell import CellData, FrameScores, compute_metrics
from ..train import predict_scores
from ..train.trained import Trained
from .cells import DetectorSpec
from .craft import Crafter, Seams
from .grid import Grid
from .jobs import Job, Output, cell_record, failed_outputs
from .prepare import CELL_ERRORS, Surrogates, load_data, load_trained
from .sanity import probe_detector

log = logging.getLogger(__name__)
PROBE_SAMPLES = 64


class Worker:
    """Runs the jobs of one grid in one process. ``trained``: detectors the driver already
    loaded (in-process), by ``repr(DetectorSpec)``; ``seams``: see :mod:`.craft`."""

    def __init__(self, grid: Grid, cache_dir: Path, trained: dict[str, Trained] | None = None,
                 device: torch.device = torch.device("cpu"), seams: Seams = Seams()) -> None:
        self.grid, self.cache_dir, self.device, self.seams = grid, cache_dir, device, seams
        self.data = load_data(grid)
        split = self.data[grid.split].head(grid.max_samples)
        rest = tuple(getattr(split, f.name) for f in dataclass_fields(split)[2:])
        self.split = Split(staged(split.images, device), split.labels, *rest)
        self.crafter = Crafter(grid, self.split, Surrogates(grid, cache_dir, self.data, device), seams)
        self._trained: dict[str, Trained] = dict(trained or {})
        self._clean: dict[tuple[str, str], Tensor] = {}  # (detector spec, defenses) -> clean scores
        self._flags: dict[tuple[str, str, bool], str] = {}  # (detector spec, defense spec, adaptive) -> probe flags
        self._batch: dict[tuple[str, str, bool], int] = {}  # view -> batch that fits the device

    def trained(self, spec: DetectorSpec) -> Trained:
        if repr(spec) not in self._trained:
            self._trained[repr(spec)] = load_trained(self.grid, spec, self.cache_dir, self.data)
        trained = self._trained[repr(spec)]
        if self.grid.precision != "float32" and not isinstance(trained.detector, Autocast):
            trained = self._trained[repr(spec)] = replace(trained, detector=Autocast(trained.detector,
                                                                                    self.grid.precision))
        place(trained.detector, self.device)
        return trained

    def scores(self, detector: Detector, images: Tensor, batch_size: int | None = None) -> Tensor:
        """P(fake) under a fixed random state, so randomized defenses score reproducibly."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.grid.seed)
            scores = predict_scores(detector, images, batch_size or self.grid.batch_size)
        bad = int((~torch.isfinite(scores)).sum())
        if bad:  # NaN weights, an overflow: no number can be computed from these scores
            raise DetectorOutputError(f"{bad} of {len(scores)} scores are NaN or infinite (broken weights or an "
                                      "overflow in the detector)")
        return scores

    def run(self, job: Job) -> list[Output]:
        """The job's new cells: records with scores, or failed records with the error."""
        grid, trained = self.grid, self.trained(job.detector)
        if trained.weights_sha256 != job.weights_sha256:  # e.g. a worker node with another checkpoint cache
            return failed_outputs(job, grid, f"this worker loaded weights {trained.weights_sha256[:12]}..., the job "
                                             f"was planned for {job.weights_sha256[:12]}... (share the cache)")
        scored, target = self.view(job, trained.detector)
        flags = ""
        with attack_view(target, job.adaptive, job.defense.eot_samples if job.defense else 1) as attacked:
            try:
                clean_scores = self._clean_scores(job, scored)
                flags = self._probe_flags(job, attacked)
            except CELL_ERRORS as exc:  # a detector that raises fails its cells only
                log.error("%s failed on clean data: %s", job.detector.name, exc)
                return failed_outputs(job, grid, f"{type(exc).__name__}: {exc}", flags)
            batch_size = self.batch_size(job, attacked)
            while True:
                try:
                    return self._attack(job, scored, attacked, clean_scores, flags, batch_size)
                except CELL_ERRORS as exc:  # one bad unit must not end the grid
                    if not (is_out_of_memory(exc) and batch_size > 1):
                        log.error("%s failed: %s", job.label, exc)
                        return failed_outputs(job, grid, f"{type(exc).__name__}: {exc}", flags)
                batch_size //= 2  # out of memory: free the failed attempt (out of the except block), halve
                log.warning("%s: out of memory; retrying with batch size %d", job.label, batch_size)
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()

    @staticmethod
    def view(job: Job, detector: Detector) -> tuple[Detector, Detector]:
        """(scored, target): the detector as the job scores it (behind its defense or channel) and as
        its attack sees it before ``attack_view`` (for a naive attack on a channel: the bare detector)."""
        scored = job.defense.build(detector) if job.defense else detector
        return scored, job.defense.attack_target(detector, scored, job.adaptive) if job.defense else scored

    def craft(self, job: Job, batch_size: int | None = None) -> tuple[Detector, list[Tensor]]:
        """The scored view and the job's adversarial examples, as :meth:`run` makes them (the same seeds;
        ``batch_size``: the one the run used, where it had to be smaller than the grid's)."""
        scored, target = self.view(job, self.trained(job.detector).detector)
        with attack_view(target, job.adaptive, job.defense.eot_samples if job.defense else 1) as attacked:
            batch = batch_size or self.batch_size(job, attacked)
            return scored, self.crafter([c for c, _ in job.cells], attacked, batch)[0]

    def _clean_scores(self, job: Job, scored: Detector) -> Tensor:
        """Clean scores, once per detector and defense (naive and adaptive views share them)."""
        key = (repr(job.detector), job.defense.name if job.defense else "")
        if key not in self._clean:
            self._clean[key] = self.scores(scored, self.split.images)
        return self._clean[key]

    def _probe_flags(self, job: Job, attacked: Detector) -> str:
        """The sanity probe's flags, once per view, under a fixed random state."""
        view = (repr(job.detector), repr(job.defense), job.adaptive)
        if view not in self._flags:
            probe = self.split.head(PROBE_SAMPLES)
            with torch.random.fork_rng(devices=[]):  # randomized defenses: reproducible flags
                torch.manual_seed(self.grid.seed)
                self._flags[view] = ",".join(probe_detector(
                    attacked, to_device(probe.images, self.device), to_device(probe.labels, self.device),
                    seed=self.grid.seed))
        return self._flags[view]

    def batch_size(self, job: Job, attacked: Detector) -> int:
        """The grid's batch, or less where the free GPU memory holds less (measured once per view)."""
        view = (repr(job.detector), repr(job.defense), job.adaptive)
        if view not in self._batch:
            probe = to_device(self.split.images[:2], self.device)
            try:
                self._batch[view] = self.seams.fitting_batch(attacked, probe, self.grid.batch_size)
            except CELL_ERRORS as exc:  # even 2 samples do not fit: halving takes over
                if not is_out_of_memory(exc):
                    raise
                self._batch[view] = self.grid.batch_size
            if self._batch[view] < self.grid.batch_size:
                log.info("%s: batch %d fits the free GPU memory (grid: %d)", job.label, self._batch[view],
                         self.grid.batch_size)
        return self._batch[view]

    def frame_scores(self, job: Job, scored: Detector, x_adv: Tensor, batch_size: int) -> FrameScores:
        """Video: every frame judged alone (a one-frame clip), clean and adversarial: the clip-level
        attack's perturbation as a frame-level detector would see it. Clean ones once per view."""
        labels = self.split.labels.repeat_interleave(x_adv.shape[1])
        key = (repr(job.detector), (job.defense.name if job.defense else "") + " frames")
        if key not in self._clean:
            self._clean[key] = self.scores(scored, self.split.images.flatten(0, 1)[:, None], batch_size)
        return FrameScores(labels, self._clean[key], self.scores(scored, x_adv.flatten(0, 1)[:, None], batch_size))

    def _attack(self, job: Job, scored: Detector, attacked: Detector, clean_scores: Tensor, flags: str,
                batch_size: int) -> list[Output]:
        """Craft and score the job's cells with ``batch_size``."""
        start = time.perf_counter()
        x_advs, kind = self.crafter([c for c, _ in job.cells], attacked, batch_size)
        seconds = (time.perf_counter() - start) / len(job.cells)
        outputs, scored_before = [], {}
        # a mirror is free where its naive twin is written here too (not where a resumed job re-crafts for it)
        free = {mirror for (_, naive), (_, mirror) in zip(job.cells, job.mirrors) if naive not in job.done}
        for cell, key, x_adv in job.with_examples(x_advs):
            if key in job.done:  # a resumed unit: the stored record stays as it is
                continue
            if id(x_adv) not in scored_before:  # a mirror takes its naive twin's scores and metrics
                adv_scores = self.scores(scored, x_adv, batch_size)
                frames = self.frame_scores(job, scored, x_adv, batch_size) if x_adv.ndim == 5 else None
                scored_before[id(x_adv)] = adv_scores, compute_metrics(CellData(
                    self.split.images, x_adv, self.split.labels, clean_scores, adv_scores, job.threshold, frames))
            adv_scores, metrics = scored_before[id(x_adv)]
            record = cell_record(cell, self.grid, job, key=key, status="ok", metrics=metrics, attack_kind=kind,
                                 detector_flags=flags, seconds=0.0 if key in free else seconds,
                                 batch_size=batch_size)
            outputs.append(Output(record, self.split.labels.tolist(), clean_scores.tolist(), adv_scores.tolist()))
        return outputs
