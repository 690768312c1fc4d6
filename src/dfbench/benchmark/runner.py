"""Run a grid: train or load each detector, attack it unit by unit, store every record.

Resumable: a cell whose key is already in the store is skipped, and each cell is written
in one transaction, so a run killed at any moment continues where it stopped. No work is
repeated: clean scores run once per detector and defense, the sanity probe once per view
(undefended; each defense naive and adaptive), transfer examples are crafted once per
surrogate and scored on every target and defense, and a worst-case ensemble attacks a
sample fooled at a smaller eps no more. Randomized defenses score under a fixed seed. A
unit that raises is stored as failed (with its error) and retried by the next run; the rest
of the grid goes on. After every run the cross-cell sanity checks are recomputed over the
whole store.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from dataclasses import fields as dataclass_fields
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from .. import __version__
from ..attacks import Attack, create_attack
from ..attacks.base import perturbation_norms
from ..data import create_dataset
from ..data.base import ImageDataset, Split
from ..defenses import attack_view
from ..detectors.autocast import Autocast
from ..detectors.base import Detector
from ..errors import ConfigError
from ..device import fitting_batch, is_out_of_memory, place, staged, to_device
from ..train import predict_scores, trained_detector
from ..train.trained import Trained
from .grid import Cell, DefenseSpec, DetectorSpec, Grid
from .metrics import classification_metrics, evasion_rate, perturbation_quality
from .sanity import check_cells, probe_detector
from .store import CellRecord, Store

if TYPE_CHECKING:
    from .executors import Executor

log = logging.getLogger(__name__)
NAN = float("nan")
PROBE_SAMPLES = 64


@dataclass
class RunSummary:
    total: int = 0
    skipped: int = 0
    ran: int = 0
    failed: int = 0
    inputs_skipped: int = 0  # data files left out (unreadable, no face, named but missing)


@lru_cache(maxsize=1)
def git_sha() -> str:
    """The git commit of the dfbench source, or '' outside a checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5, check=False)
    except OSError:
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def in_batches(fn: Callable[[Tensor, Tensor], Any], split: Split, batch_size: int, device: torch.device) -> list:
    """``fn(x, y)`` on each batch of ``split`` (moved to ``device``)."""
    return [fn(to_device(split.images[i:i + batch_size], device), to_device(split.labels[i:i + batch_size], device))
            for i in range(0, len(split), batch_size)]


def attack_in_batches(attack: Attack, detector: Detector, split: Split, batch_size: int) -> Tensor:
    device = next(detector.parameters()).device
    return torch.cat([x.cpu() for x in in_batches(lambda x, y: attack.perturb(detector, x, y), split, batch_size,
                                                  device)])


def sweep_in_batches(attack: Attack, detector: Detector, split: Split, eps: list[float],
                     batch_size: int) -> list[Tensor]:
    device = next(detector.parameters()).device
    per_batch = in_batches(lambda x, y: attack.sweep(detector, x, y, eps), split, batch_size, device)
    return [torch.cat([b[i].cpu() for b in per_batch]) for i in range(len(eps))]


class Surrogates:
    """Trained detectors that attacks ask for by name (a transfer attack's surrogate), each
    loaded or trained once per run, on the grid's data. Without a seed of its own, a surrogate
    is trained from the grid's seed + 1: never the very checkpoint of a target."""

    def __init__(self, grid: Grid, cache_dir: Path, device: torch.device = torch.device("cpu"),
                 modality: str = "image", train_device: torch.device | None = None,
                 data_fingerprint: str | None = None) -> None:
        self.grid, self.cache_dir, self.device, self.modality = grid, cache_dir, device, modality
        self.train_device, self.data_fingerprint = train_device or device, data_fingerprint
        self._loaded: dict[tuple[str, int], Detector] = {}

    def __call__(self, name: str, params: dict[str, Any]) -> Detector:
        seed = int(params.get("seed", self.grid.seed + 1))
        if (name, seed) not in self._loaded:
            self._loaded[name, seed] = place(trained_detector(
                name, self.grid.dataset, self.grid.image_size, self.cache_dir, seed=seed,
                data_params=self.grid.data_params, modality=self.modality, device=self.train_device,
                data_fingerprint=self.data_fingerprint).detector, self.device)
        return self._loaded[name, seed]


class Crafter:
    """Makes the adversarial examples of a unit of cells; remembers target-independent ones."""

    def __init__(self, grid: Grid, split: Split, cache_dir: Path, device: torch.device = torch.device("cpu")) -> None:
        self.grid, self.split = grid, split
        self.resolve = Surrogates(grid, cache_dir, device, "video" if split.images.ndim == 5 else "image")
        self._target_independent: dict[str, Tensor] = {}

    def attack(self, cell: Cell) -> Attack:
        a = cell.attack
        attack = create_attack(a.name, eps=cell.eps, norm=a.norm, backend=a.backend, seed=cell.seed(self.grid),
                               **a.params)
        attack.prepare(self.resolve)
        return attack

    def __call__(self, unit: list[Cell], detector: Detector, batch_size: int) -> tuple[list[Tensor], str]:
        """``x_adv`` for each cell of ``unit`` and the attacks' kind."""
        attack = self.attack(unit[0])
        bs = batch_size
        if len(unit) > 1:
            return sweep_in_batches(attack, detector, self.split, [c.eps for c in unit], bs), attack.kind
        if not attack.target_independent:
            return [attack_in_batches(attack, detector, self.split, bs)], attack.kind
        spec = {k: v for k, v in unit[0].spec(self.grid).items()
                if k not in ("detector", "detector_params", "training", "defenses", "adaptive", "defense_params")}
        key = json.dumps(spec, sort_keys=True)
        if key not in self._target_independent:
            self._target_independent[key] = attack_in_batches(attack, detector, self.split, bs)
        return [self._target_independent[key]], attack.kind


def measure(cell: Cell, grid: Grid, job: Job, split: Split, clean_scores: Tensor, x_adv: Tensor,
            adv_scores: Tensor, **fields: Any) -> CellRecord:
    """The cell's record from clean and adversarial inputs and scores ``(N,)``."""
    linf, l2 = perturbation_norms(split.images, x_adv)
    ssim, psnr = perturbation_quality(split.images, x_adv)
    changed = torch.isfinite(psnr)
    t = job.threshold
    clean = classification_metrics(clean_scores, split.labels, t)
    adv = classification_metrics(adv_scores, split.labels, t)
    record = _record(cell, grid, job, status="ok", error="",
                     **{f"clean_{k}": v for k, v in clean.items()}, **{f"adv_{k}": v for k, v in adv.items()},
                     evasion_rate=evasion_rate(clean_scores, adv_scores, split.labels, t),
                     linf_mean=float(linf.mean()), linf_max=float(linf.max()),
                     l2_mean=float(l2.mean()), l2_max=float(l2.max()), ssim_mean=float(ssim.mean()),
                     psnr_mean=float(psnr[changed].mean()) if changed.any() else NAN, **fields)
    return record


def _record(cell: Cell, grid: Grid, job: Job, **values: Any) -> CellRecord:
    numbers = dict.fromkeys(["clean_acc", "clean_auc", "clean_precision", "clean_recall", "clean_f1", "adv_acc",
                             "adv_auc", "adv_precision", "adv_recall", "adv_f1", "evasion_rate", "linf_mean",
                             "linf_max", "l2_mean", "l2_max", "ssim_mean", "psnr_mean", "seconds"], NAN)
    numbers.update(values)
    numbers.setdefault("attack_kind", "")
    numbers.setdefault("detector_flags", "")
    numbers.setdefault("batch_size", grid.batch_size)
    return CellRecord(
        detector=cell.detector.name, training=cell.detector.training_name, weights_sha256=job.weights_sha256,
        defenses=cell.defense.name if cell.defense else "", adaptive=int(cell.adaptive),
        attack=cell.attack.name, backend=cell.attack.backend, norm=cell.attack.norm, eps=cell.eps,
        attack_params=json.dumps(cell.attack.params, sort_keys=True), dataset=grid.dataset,
        dataset_fingerprint=job.fingerprint, split=grid.split, image_size=grid.image_size, n_samples=job.n_samples,
        threshold=job.threshold, seed=cell.seed(grid), grid=grid.name, grid_sha256=grid.sha256,
        dfbench_version=__version__, git_sha=git_sha(), data_params=job.data_params, precision=grid.precision,
        **numbers)


@dataclass(frozen=True)
class Job:
    """One unit of work: the cells of one grid entry (one eps, or every eps of a sweep) on one
    detector under one defense view. Workers run jobs; the driver alone writes their outputs."""

    detector: DetectorSpec
    defense: DefenseSpec | None
    adaptive: bool
    cells: tuple[tuple[Cell, str], ...]  # (cell, key)
    done: frozenset[str]  # keys of this unit already stored (a resumed sweep)
    weights_sha256: str
    threshold: float
    fingerprint: str
    n_samples: int
    data_params: str = ""  # JSON of the dataset's load settings (files datasets), recorded per cell

    @property
    def new_cells(self) -> list[tuple[Cell, str]]:
        return [(c, k) for c, k in self.cells if k not in self.done]

    @property
    def label(self) -> str:
        first = self.cells[0][0]
        return (f"{first.detector.name}{' ' + first.defense.name if first.defense else ''}"
                f"{' adaptive' if first.adaptive else ''} {first.attack.name}/{first.attack.norm} eps="
                + ",".join(f"{c.eps:.4g}" for c, _ in self.cells))


@dataclass(frozen=True)
class Output:
    """One cell's record and, when it finished, its per-sample labels and scores."""

    record: CellRecord
    labels: list[int] | None = None
    clean_scores: list[float] | None = None
    adv_scores: list[float] | None = None


def failed_outputs(job: Job, grid: Grid, error: str, flags: str = "") -> list[Output]:
    """Failed records (with their error) for the cells of ``job`` that were not stored yet."""
    return [Output(_record(cell, grid, job, key=key, status="failed", error=error[:2000], detector_flags=flags))
            for cell, key in job.new_cells]


def check_video_attacks(grid: Grid) -> None:
    """On clips the budget is per frame. An L-inf ball is per frame by nature; the attack
    libraries measure L2 over the whole clip, so L2 attacks on video are refused."""
    l2 = sorted({a.name for a in grid.attacks if a.norm == "l2"})
    if l2:
        raise ConfigError(f"grid {grid.name!r}: L2 attacks ({', '.join(l2)}) on video data would spend one budget "
                          "over the whole clip, not per frame; use linf attacks on video datasets")


def _train_surrogates(grid: Grid, cache_dir: Path, device: torch.device, data: ImageDataset) -> None:
    """Train (on ``device``; or find cached and current) every surrogate the grid's attacks ask
    for, here and once, so that workers only load them and never train the same one twice. They
    stay on the CPU here. A surrogate that cannot be trained is left to the jobs that need it:
    their cells fail with the reason."""
    resolve = Surrogates(grid, cache_dir, torch.device("cpu"), data.modality, device, data.fingerprint)
    for a in grid.attacks:
        try:
            create_attack(a.name, eps=a.eps[0], norm=a.norm, backend=a.backend, **a.params).prepare(resolve)
        except (RuntimeError, ValueError, ArithmeticError) as exc:
            log.error("surrogate for %s could not be trained: %s", a.name, exc)


def plan(grid: Grid, done: set[str], cache_dir: Path, summary: RunSummary,
         progress: Callable[[int, str], None], device: torch.device = torch.device("cpu"),
         ) -> tuple[list[Job], dict[str, Trained], list[Output]]:
    """Train (on ``device``) or load every detector, here and once, and list the jobs with cells
    not in ``done``.

    A detector that cannot be trained (it raises, or breaks the interface) gets its cells
    recorded as failed, under weights ``untrained``; the other detectors go on.
    """
    data = create_dataset(grid.dataset, **grid.dataset_kwargs())
    if data.modality == "video":
        check_video_attacks(grid)
    n = len(data[grid.split].head(grid.max_samples))
    summary.inputs_skipped = len(data.skipped)
    info = json.dumps(data.info, sort_keys=True) if data.info else ""
    jobs, trained_by_spec, failed = [], {}, []
    for det_spec in grid.detectors:
        try:
            trained = trained_detector(det_spec.name, grid.dataset, grid.image_size, cache_dir, seed=grid.seed,
                                       weights=det_spec.weights, training=det_spec.training,
                                       data_params=grid.data_params, modality=data.modality, device=device,
                                       data_fingerprint=data.fingerprint, **det_spec.params)
        except (RuntimeError, ValueError, ArithmeticError) as exc:
            log.error("%s could not be trained: %s", det_spec.name, exc)
            for defense, adaptive in grid.views(det_spec):
                for unit in grid.units(det_spec, defense, adaptive):
                    job = Job(det_spec, defense, adaptive, tuple((c, c.key(grid, "untrained", data.fingerprint))
                                                                 for c in unit), frozenset(), "untrained", NAN,
                              data.fingerprint, n, info)
                    failed += failed_outputs(job, grid, f"training failed: {type(exc).__name__}: {exc}")
            continue
        trained_by_spec[repr(det_spec)] = trained
        for defense, adaptive in grid.views(det_spec):
            for unit in grid.units(det_spec, defense, adaptive):
                cells = tuple((c, c.key(grid, trained.weights_sha256, data.fingerprint)) for c in unit)
                stored = frozenset(k for _, k in cells if k in done)
                summary.skipped += len(stored)
                progress(len(stored), det_spec.name)
                if len(stored) < len(cells):
                    jobs.append(Job(det_spec, defense, adaptive, cells, stored, trained.weights_sha256,
                                    trained.threshold, data.fingerprint, n, info))
    if jobs:
        _train_surrogates(grid, cache_dir, device, data)
    return jobs, trained_by_spec, failed


def run_grid(grid: Grid, store: Store, cache_dir: Path, on_progress: Callable[[int, str], None] | None = None,
             executor: Executor | None = None, device: torch.device = torch.device("cpu")) -> RunSummary:
    """Run every cell of ``grid`` not yet in ``store``, then refresh the cross-cell sanity flags.

    ``on_progress(n_done_now, description)`` is called as cells finish or are skipped. The
    executor (default: in this process) runs the jobs on ``device``; records are written here,
    one cell per transaction, as they stream back.
    """
    progress = on_progress or (lambda n, desc: None)
    summary = RunSummary(total=len(grid.cells()))
    jobs, trained, untrainable = plan(grid, store.done_keys(), cache_dir, summary, progress, device)
    for out in untrainable:
        store.put(out.record)
    summary.failed += len(untrainable)
    progress(len(untrainable), "untrainable detectors")
    if executor is None:
        from .executors import InProcess

        executor = InProcess()
    for job, outputs in executor.run(jobs, grid, cache_dir, trained, device):
        for out in outputs:
            store.put(out.record, out.labels, out.clean_scores, out.adv_scores)
            if out.record.status == "ok":
                summary.ran += 1
            else:
                summary.failed += 1
        progress(len(outputs), job.label)
    store.set_check_flags(check_cells(store.records()))
    return summary


class Worker:
    """Runs the jobs of one grid in one process, keeping what jobs share: the data split, the
    detectors, clean scores per detector and defense, probe flags per view, transfer examples."""

    def __init__(self, grid: Grid, cache_dir: Path, trained: dict[str, Trained] | None = None,
                 device: torch.device = torch.device("cpu")) -> None:
        self.grid, self.cache_dir, self.device = grid, cache_dir, device
        data = create_dataset(grid.dataset, **grid.dataset_kwargs())
        self.modality = data.modality
        split = data[grid.split].head(grid.max_samples)
        self.split = Split(staged(split.images, device), split.labels, *_split_rest(split))
        self.crafter = Crafter(grid, self.split, cache_dir, device)
        self._trained: dict[str, Trained] = dict(trained or {})
        self._clean: dict[tuple[str, str], Tensor] = {}  # (detector spec, defenses) -> clean scores
        self._flags: dict[tuple[str, str, bool], str] = {}  # (detector spec, defense spec, adaptive) -> probe flags
        self._batch: dict[tuple, int] = {}  # view -> batch that fits the device

    def trained(self, spec: DetectorSpec) -> Trained:
        if repr(spec) not in self._trained:
            self._trained[repr(spec)] = trained_detector(
                spec.name, self.grid.dataset, self.grid.image_size, self.cache_dir, seed=self.grid.seed,
                weights=spec.weights, training=spec.training, data_params=self.grid.data_params,
                modality=self.modality, **spec.params)
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
            return predict_scores(detector, images, batch_size or self.grid.batch_size)

    def run(self, job: Job) -> list[Output]:
        """The job's new cells: records with scores, or failed records with the error."""
        grid, trained = self.grid, self.trained(job.detector)
        if trained.weights_sha256 != job.weights_sha256:  # e.g. a worker node with another checkpoint cache
            return failed_outputs(job, grid, f"this worker loaded weights {trained.weights_sha256[:12]}..., the job "
                                             f"was planned for {job.weights_sha256[:12]}... (share the cache)")
        defenses = job.defense.name if job.defense else ""
        scored = job.defense.build(trained.detector) if job.defense else trained.detector
        flags = ""
        with attack_view(scored, job.adaptive, job.defense.eot_samples if job.defense else 1) as attacked:
            try:
                if (repr(job.detector), defenses) not in self._clean:  # naive and adaptive views share them
                    self._clean[repr(job.detector), defenses] = self.scores(scored, self.split.images)
                clean_scores = self._clean[repr(job.detector), defenses]
                view = (repr(job.detector), repr(job.defense), job.adaptive)
                if view not in self._flags:
                    probe = self.split.head(PROBE_SAMPLES)
                    with torch.random.fork_rng(devices=[]):  # randomized defenses: reproducible flags
                        torch.manual_seed(grid.seed)
                        self._flags[view] = ",".join(probe_detector(
                            attacked, to_device(probe.images, self.device), to_device(probe.labels, self.device),
                            seed=grid.seed))
                flags = self._flags[view]
            except (RuntimeError, ValueError, ArithmeticError) as exc:  # a detector that raises fails its cells only
                log.error("%s failed on clean data: %s", job.detector.name, exc)
                return failed_outputs(job, grid, f"{type(exc).__name__}: {exc}", flags)
            batch_size = self.batch_size(job, attacked)
            while True:
                try:
                    return self._attack(job, trained, scored, attacked, clean_scores, flags, batch_size)
                except (RuntimeError, ValueError, ArithmeticError) as exc:  # one bad unit must not end the grid
                    if not (is_out_of_memory(exc) and batch_size > 1):
                        log.error("%s failed: %s", job.label, exc)
                        return failed_outputs(job, grid, f"{type(exc).__name__}: {exc}", flags)
                batch_size //= 2  # out of memory: free the failed attempt (out of the except block), halve
                log.warning("%s: out of memory; retrying with batch size %d", job.label, batch_size)
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()

    def batch_size(self, job: Job, attacked: Detector) -> int:
        """The grid's batch, or less where the free GPU memory holds less (measured once per view)."""
        view = (repr(job.detector), repr(job.defense), job.adaptive, "batch")
        if view not in self._batch:
            probe = to_device(self.split.images[:2], self.device)
            try:
                self._batch[view] = fitting_batch(attacked, probe, self.grid.batch_size)
            except (RuntimeError, ValueError) as exc:  # even 2 samples do not fit: halving takes over
                if not is_out_of_memory(exc):
                    raise
                self._batch[view] = self.grid.batch_size
            if self._batch[view] < self.grid.batch_size:
                log.info("%s: batch %d fits the free GPU memory (grid: %d)", job.label, self._batch[view],
                         self.grid.batch_size)
        return self._batch[view]

    def frame_accuracies(self, job: Job, scored: Detector, x_adv: Tensor, batch_size: int) -> dict[str, float]:
        """Video: every frame judged alone (a one-frame clip) at the clip threshold, clean and adversarial.

        The clip-level attack's perturbation, seen frame by frame: what a frame-level detector
        would report. Clean frame scores are computed once per detector and defense.
        """
        labels = self.split.labels.repeat_interleave(x_adv.shape[1])
        key = (repr(job.detector), job.defense.name if job.defense else "", "frames")
        if key not in self._clean:
            self._clean[key] = self.scores(scored, self.split.images.flatten(0, 1)[:, None], batch_size)
        adv = self.scores(scored, x_adv.flatten(0, 1)[:, None], batch_size)
        t = job.threshold
        return {"frame_clean_acc": float(((self._clean[key] >= t).long() == labels).float().mean()),
                "frame_adv_acc": float(((adv >= t).long() == labels).float().mean())}

    def _attack(self, job: Job, trained: Trained, scored: Detector, attacked: Detector, clean_scores: Tensor,
                flags: str, batch_size: int) -> list[Output]:
        """Craft and score the job's cells with ``batch_size``."""
        start = time.perf_counter()
        x_advs, kind = self.crafter([c for c, _ in job.cells], attacked, batch_size)
        seconds = (time.perf_counter() - start) / len(job.cells)
        outputs = []
        for (cell, key), x_adv in zip(job.cells, x_advs):
            if key in job.done:  # a resumed unit: the stored record stays as it is
                continue
            adv_scores = self.scores(scored, x_adv, batch_size)
            frames = self.frame_accuracies(job, scored, x_adv, batch_size) if x_adv.ndim == 5 else {}
            record = measure(cell, self.grid, job, self.split, clean_scores, x_adv, adv_scores, key=key,
                             attack_kind=kind, detector_flags=flags, seconds=seconds, batch_size=batch_size,
                             **frames)
            outputs.append(Output(record, self.split.labels.tolist(), clean_scores.tolist(), adv_scores.tolist()))
        return outputs


def _split_rest(split: Split) -> tuple:
    """The fields of ``split`` after images and labels."""
    return tuple(getattr(split, f.name) for f in dataclass_fields(split)[2:])
