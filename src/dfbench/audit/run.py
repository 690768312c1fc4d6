"""`dfbench audit`: the binarization test on every view of a grid's detectors, with the grid's own attacks.

A view is what an entry scores: the detector undefended, or behind one of the grid's defenses or
channels, attacked naively or adaptively. Its audit runs the grid's attack entries at one budget
(the headline one: the largest L-inf eps by default) against the detector with the test's readout,
through the same view, on the first ``n`` test samples the view classifies correctly. Transfer
attacks are left out (their examples are crafted on a surrogate and never see the readout).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from ..attacks import create_attack
from ..attacks.base import Attack
from ..benchmark.cells import Cell, DefenseSpec, DetectorSpec
from ..benchmark.grid import Grid, require_detectors
from ..benchmark.prepare import load_trained
from ..data import create_dataset
from ..detectors.base import Detector
from ..errors import ConfigError
from .binarization import BinarizationResult, NotAuditable, binarization_test

log = logging.getLogger(__name__)


@dataclass
class Audit:
    """One view's audit: its result, or why it was not audited."""

    detector: str
    training: str
    view: str  # "" undefended, else the defense or channel chain and "naive" / "adaptive"
    attacks: list[str]
    defenses: str = ""  # as the view's records and entry name them (submit matches on these)
    channel: str = ""
    adaptive: bool = False
    weights_sha256: str = ""
    dataset: str = ""
    image_size: int = 0
    precision: str = "float32"
    result: BinarizationResult | None = None
    not_audited: str = ""

    def line(self) -> str:
        name = " ".join(p for p in (self.detector, self.training, self.view or "undefended") if p)
        return f"{name}: " + (self.result.line() if self.result else f"not audited ({self.not_audited})")

    def record(self) -> dict:
        r = self.result
        return {"detector": self.detector, "training": self.training, "defenses": self.defenses,
                "channel": self.channel, "adaptive": self.adaptive, "weights_sha256": self.weights_sha256,
                "dataset": self.dataset, "image_size": self.image_size, "precision": self.precision,
                "view": self.view, "attacks": self.attacks, "not_audited": self.not_audited, **({} if r is None else {
                    "norm": r.norm, "eps": r.eps, "samples": len(r.outcomes), "testable": r.testable,
                    "successes": r.successes, "success_rate": r.success_rate, "interval": r.interval,
                    "fails_binarization_test": r.fails,
                    "samples_not_broken": [o.index for o in r.outcomes if o.testable and not o.success]})}


def headline_eps(grid: Grid, norm: str) -> float:
    """The grid's largest eps of ``norm``: the budget the board's headline column reads."""
    values = [e for a in grid.attacks if a.norm == norm for e in a.eps]
    if not values:
        raise ConfigError(f"grid {grid.name!r} has no {norm} attack to audit")
    return max(values)


def grid_attacks(grid: Grid, norm: str, eps: float) -> list[Attack]:
    """The grid's attack entries at (``norm``, ``eps``), as its cells create them (same seeds)."""
    out = []
    for spec in grid.attacks:
        if spec.norm != norm or not any(math.isclose(e, eps, rel_tol=1e-9) for e in spec.eps):
            continue
        attack = create_attack(spec.name, eps=eps, norm=spec.norm, backend=spec.backend,
                               seed=Cell(DetectorSpec(""), spec, eps).seed(grid), **spec.params)
        if not attack.target_independent:
            out.append(attack)
    if not out:
        raise ConfigError(f"grid {grid.name!r} has no attack at {norm} eps {eps:.6g} that sees the detector "
                          "(transfer attacks are left out)")
    return out


def view_name(view: DefenseSpec | None, adaptive: bool) -> str:
    return "" if view is None else f"{view.name} {'adaptive' if adaptive else 'naive'}"


def audit_grid(grid: Grid, cache_dir: Path, norm: str = "linf", eps: float | None = None, n: int = 32,
               n_inner: int = 999, closeness: float = 0.999, device: torch.device | None = None,
               hardened_only: bool = False) -> list[Audit]:
    """Every view of every detector of ``grid``, audited at (``norm``, ``eps``: the headline by default);
    ``hardened_only``: the views whose numbers rest on a defense, a channel or a training recipe."""
    require_detectors(grid)
    eps = headline_eps(grid, norm) if eps is None else eps
    attacks = grid_attacks(grid, norm, eps)
    names = [f"{a.name}" for a in attacks]
    data = create_dataset(grid.dataset, **grid.dataset_kwargs())
    split = data[grid.split].head(grid.max_samples)
    if data.modality != "image":
        raise ConfigError("dfbench audit takes image grids (a video detector has no single feature vector)")
    audits: list[Audit] = []
    for spec in grid.detectors:
        if hardened_only and not spec.training_name and not any(v is not None for v, _ in grid.views(spec)):
            continue  # nothing hardened to load or train
        trained = load_trained(grid, spec, cache_dir, data, device)
        base = trained.detector.eval()
        for view, adaptive in grid.views(spec):
            if hardened_only and view is None and not spec.training_name:
                continue
            chain = view.name if view is not None else ""
            channel = view is not None and view.channel
            audit = Audit(spec.name, spec.training_name, view_name(view, adaptive), names,
                          "" if channel else chain, chain if channel else "", adaptive, trained.weights_sha256,
                          grid.dataset, grid.image_size, grid.precision)
            audits.append(audit)
            try:
                audit.result = audit_view(base, view, adaptive, attacks, split.images, split.labels, norm, eps, n,
                                          n_inner, closeness, grid.seed)
            except NotAuditable as exc:
                audit.not_audited = str(exc)
            log.debug("%s", audit.line())
    return audits


def audit_view(base: Detector, view: DefenseSpec | None, adaptive: bool, attacks: list[Attack], images: torch.Tensor,
               labels: torch.Tensor, norm: str, eps: float, n: int, n_inner: int, closeness: float,
               seed: int) -> BinarizationResult:
    """The test on the first ``n`` samples the view classifies correctly."""
    scored = view.build(base) if view is not None else base
    chosen, step = [], 64
    with torch.no_grad():  # in batches, until n are found: a real split at 380 px does not fit one pass
        for start in range(0, len(images), step):
            batch = images[start:start + step]
            chosen.append(batch[scored.predict(batch) == labels[start:start + step]])
            if sum(len(c) for c in chosen) >= n:
                break
    picked = torch.cat(chosen)[:n] if chosen else images[:0]

    def build(binarized: Detector) -> tuple[Detector, Detector]:
        if view is None:
            return binarized, binarized
        viewed = view.build(binarized)
        return viewed, view.attack_target(binarized, viewed, adaptive)

    return binarization_test(base, attacks, picked, norm, eps, build, adaptive,
                             view.eot_samples if view is not None else 1, n_inner, closeness, seed)


def write_audits(audits: list[Audit], path: Path) -> None:
    """The audits as JSON; in a results folder as ``audits.json``, `dfbench submit` puts them on the entries."""
    path.write_text(json.dumps([a.record() for a in audits], indent=2, allow_nan=False) + "\n")
