"""The numbers of one grid cell, each declared once.

A :class:`Metric` names a number, its kind (a rate, a norm, another real), whether higher is
better for the detector, whether leaderboard entries carry it, and how to compute it from a
cell's :class:`CellData`. Everything else derives from :data:`METRICS`: the record's columns,
the store's columns and their migration, the entry's per-cell fields and their JSON schema.
Adding a metric is one entry below and one test (docs/architecture.md).

NaN means undefined (an AUC on one class, an evasion rate with no fake detected clean); it is
stored as NULL and published as ``null``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import torch
from torch import Tensor

from .classification import classification_metrics, evasion_rate
from .perturbation import perturbation_norms, perturbation_quality

NAN = float("nan")
Kind = Literal["rate", "norm", "real"]
# JSON schema of each kind's value in an entry (null: undefined)
KIND_SCHEMA: dict[str, dict] = {
    "rate": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
    "norm": {"type": ["number", "null"], "minimum": 0},
    "real": {"type": ["number", "null"]},
}


@dataclass(frozen=True)
class FrameScores:
    """Video cells: P(fake) of every frame judged alone, ``(N * T,)``, with its labels."""

    labels: Tensor
    clean: Tensor
    adv: Tensor


@dataclass
class CellData:
    """What a cell's metrics are computed from; shared intermediate results are cached.

    Shape: ``x`` and ``x_adv`` ``(N, 3, H, W)`` or ``(N, T, 3, H, W)`` in [0, 1]; ``labels``,
    ``clean_scores`` and ``adv_scores`` (P(fake)) ``(N,)``; a sample is called fake when its
    score is ``>= threshold``.
    """

    x: Tensor
    x_adv: Tensor
    labels: Tensor
    clean_scores: Tensor
    adv_scores: Tensor
    threshold: float
    frames: FrameScores | None = None

    @cached_property
    def norms(self) -> tuple[Tensor, Tensor]:
        """Per-sample L-inf and L2 norms of the perturbation."""
        return perturbation_norms(self.x, self.x_adv)

    @cached_property
    def quality(self) -> tuple[Tensor, Tensor]:
        """Per-sample SSIM and PSNR."""
        return perturbation_quality(self.x, self.x_adv)

    @cached_property
    def clean(self) -> dict[str, float]:
        return classification_metrics(self.clean_scores, self.labels, self.threshold)

    @cached_property
    def adv(self) -> dict[str, float]:
        return classification_metrics(self.adv_scores, self.labels, self.threshold)


@dataclass(frozen=True)
class Metric:
    """One number of a cell's record."""

    name: str
    compute: Callable[[CellData], float]
    kind: Kind
    higher_is_better: bool | None  # for the detector; None: descriptive (a perturbation's size). Documents the
    # direction for readers; nothing ranks by it yet
    entry: Literal["", "required", "optional"] = ""  # in leaderboard entries' cells; new metrics: "optional"
    nullable: bool = True  # may be NaN (undefined)

    def entry_schema(self) -> dict:
        schema = dict(KIND_SCHEMA[self.kind])
        if not self.nullable:
            schema["type"] = "number"
        return schema


def _psnr_mean(d: CellData) -> float:
    psnr = d.quality[1]
    changed = torch.isfinite(psnr)  # an unchanged sample has infinite PSNR
    return float(psnr[changed].mean()) if changed.any() else NAN


def _linf_median_success(d: CellData) -> float:
    """Median L-inf norm over the samples the attack turned from right to wrong (NaN if none)."""
    def right(scores: Tensor) -> Tensor:
        return (scores >= d.threshold).long() == d.labels.long()

    broken = right(d.clean_scores) & ~right(d.adv_scores)
    return float(d.norms[0][broken].double().quantile(0.5)) if broken.any() else NAN


def _frame_acc(scores: Callable[[FrameScores], Tensor]) -> Callable[[CellData], float]:
    def compute(d: CellData) -> float:
        if d.frames is None:
            return NAN
        return float(((scores(d.frames) >= d.threshold).long() == d.frames.labels).float().mean())

    return compute


def _classification(side: Literal["clean", "adv"], key: str) -> Callable[[CellData], float]:
    return lambda d: getattr(d, side)[key]


METRICS: tuple[Metric, ...] = (
    *(Metric(f"{side}_{key}", _classification(side, key), "rate", True,
             entry="required" if side == "adv" and key in ("acc", "auc") else "",
             nullable=not (side == "adv" and key == "acc"))
      for side in ("clean", "adv") for key in ("acc", "auc", "precision", "recall", "f1")),
    # fakes detected clean that score real after the attack
    Metric("evasion_rate", lambda d: evasion_rate(d.clean_scores, d.adv_scores, d.labels, d.threshold), "rate",
           False, entry="required"),
    Metric("linf_mean", lambda d: float(d.norms[0].mean()), "norm", None),
    Metric("linf_max", lambda d: float(d.norms[0].max()), "norm", None, entry="required"),
    Metric("l2_mean", lambda d: float(d.norms[1].mean()), "norm", None, entry="required"),
    Metric("l2_max", lambda d: float(d.norms[1].max()), "norm", None),
    Metric("ssim_mean", lambda d: float(d.quality[0].mean()), "real", None, entry="required"),
    Metric("psnr_mean", _psnr_mean, "real", None, entry="required"),  # dB, over the samples the attack changed
    # how large a perturbation it took: higher means the detector gave way only to larger ones
    Metric("linf_median_success", _linf_median_success, "norm", True, entry="optional"),
    # video only: every frame judged alone (a one-frame clip) at the clip threshold
    Metric("frame_clean_acc", _frame_acc(lambda f: f.clean), "rate", True),
    Metric("frame_adv_acc", _frame_acc(lambda f: f.adv), "rate", True),
)
METRIC_NAMES: tuple[str, ...] = tuple(m.name for m in METRICS)
ENTRY_METRICS: tuple[Metric, ...] = tuple(m for m in METRICS if m.entry)


def compute_metrics(data: CellData) -> dict[str, float]:
    """Every declared metric of one cell."""
    return {m.name: float(m.compute(data)) for m in METRICS}


def undefined_metrics() -> dict[str, float]:
    """Every metric NaN: the numbers of a cell that did not finish."""
    return dict.fromkeys(METRIC_NAMES, NAN)
