"""Automatic sanity checks on every run: flags that warn of an unreliable number, never hide it.

In the spirit of auto-attack's ``checks.py`` (Croce & Hein 2020) and Carlini et al., "On
Evaluating Adversarial Robustness" (2019). Two kinds:

- :func:`probe_detector`, once per detector and run: non-finite logits, outputs that look
  like probabilities rather than logits, nondeterminism in eval mode, zero or non-finite
  input gradients (``zero_gradients``: the margin's gradient vanishes, gradient masking;
  ``saturated_softmax``: only cross-entropy's does, so CE attacks stall where margin
  attacks would not), and a detector that a large-eps margin PGD cannot break.
- :func:`check_cells`, over all stored records after every run: robust != clean at eps 0,
  robust accuracy rising with eps, an iterative attack weaker than a single-step one, a
  transfer or query (black-box) attack beating the white-box ones at the same budget, and a
  defense whose naive robust accuracy exceeds its adaptive (BPDA/EOT) one by more than
  ``MASKING_GAP``: gradient masking (Athalye, Carlini & Wagner 2018), flagged on the naive cell.

Comparisons allow ``TOLERANCE_SAMPLES`` samples of slack, so a tie broken by one borderline
sample is not a flag.

Every flag says a number may not be trusted, except those in :data:`ADVISORY`: shown, but no
reason to refuse an entry. A single-step attack (FGSM) is not monotone in eps by nature (one
step of size eps can overshoot), so its non-monotonicity is ``single_step_not_monotone``.
"""

from __future__ import annotations

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor

from ..attacks import AttackKind, create_attack
from ..attacks._native import margin
from ..detectors.base import Detector

TOLERANCE_SAMPLES = 2
ZERO_GRADIENT_SHARE = 0.1   # flag when more samples than this have an all-zero input gradient
LARGE_EPS = 64 / 255        # L-inf budget no real detector survives
LARGE_EPS_SURVIVORS = 0.1   # flag when more of the correctly classified samples survive it
WHITE_BOX = tuple(k.value for k in AttackKind if k.white_box)  # not ensembles: they may hold black-box members
BLACK_BOX = {AttackKind.TRANSFER: "transfer_beats_white_box", AttackKind.QUERY: "black_box_beats_white_box"}
SERIES = ["detector", "training", "defenses", "channel", "adaptive", "weights_sha256", "dataset", "precision", "attack",
          "backend", "norm", "attack_params"]
ROW = ["detector", "training", "defenses", "channel", "adaptive", "weights_sha256", "dataset", "precision", "norm",
       "eps"]
MASKING_GAP = 0.10  # naive robust accuracy this far above the adaptive one: gradient masking
# Shown on the board, but they do not block `submit`: FGSM can overshoot; a detector at chance on
# clean data has honest numbers that say little (leaderboards/robust.py: clean_flags).
ADVISORY = frozenset({"single_step_not_monotone", "clean_auc_at_chance"})


def blocking(flags: list[str]) -> list[str]:
    """The flags that mean a number cannot be trusted (all but :data:`ADVISORY`)."""
    return [f for f in flags if f not in ADVISORY]


def probe_detector(detector: Detector, x: Tensor, y: Tensor, seed: int = 0) -> list[str]:
    """Flags about the detector itself, from a small clean batch ``x`` ``(N, ...)``, ``y`` ``(N,)``."""
    was_training = detector.training
    detector.eval()
    try:
        return _probe(detector, x, y, seed)
    finally:
        detector.train(was_training)


def _probe(detector: Detector, x: Tensor, y: Tensor, seed: int) -> list[str]:
    flags = []
    with torch.no_grad():
        out, again = detector(x), detector(x)
    if not torch.isfinite(out).all():
        return ["nonfinite_logits"]
    if not torch.equal(out, again) and not detector.randomized:  # a randomized defense or channel varies by design
        flags.append("nondeterministic")
    ones = torch.ones_like(out[:, 0])
    # Probabilities as "logits" squash every margin into [-1, 1]. Log-probabilities are fine:
    # softmax(log p) = p and log p1 - log p0 is the logit (score-fusing video models output them).
    rows_are_distributions = (out >= 0).all() and (out <= 1).all() and torch.allclose(out.sum(1), ones, atol=1e-4)
    if rows_are_distributions:
        flags.append("probability_outputs")
    margin_zero, ce_zero = (_zero_gradient_share(detector, x, y, loss) for loss in ("margin", "ce"))
    if margin_zero is None or ce_zero is None:
        flags.append("nonfinite_gradients")
    elif margin_zero > ZERO_GRADIENT_SHARE:
        flags.append("zero_gradients")
    elif ce_zero > ZERO_GRADIENT_SHARE:
        flags.append("saturated_softmax")
    with torch.no_grad():
        correct = detector.predict(x) == y
    if correct.any():  # margin loss: a confident (saturated) but healthy detector still breaks
        pgd = create_attack("pgd", eps=LARGE_EPS, norm="linf", backend="native", steps=20, alpha=LARGE_EPS / 8,
                            random_start=False, loss="margin", seed=seed)
        x_adv = pgd.perturb(detector, x[correct], y[correct])
        with torch.no_grad():
            survived = (detector.predict(x_adv) == y[correct]).float().mean()
        if survived > LARGE_EPS_SURVIVORS:
            flags.append("survives_large_eps")
    return flags


def _zero_gradient_share(detector: Detector, x: Tensor, y: Tensor, loss: str) -> float | None:
    """Share of samples whose input gradient of ``loss`` is exactly zero; None if any is not finite."""
    xg = x.clone().requires_grad_(True)
    logits = detector(xg)
    value = -margin(logits, y).sum() if loss == "margin" else F.cross_entropy(logits, y, reduction="sum")
    (grad,) = torch.autograd.grad(value, xg)
    if not torch.isfinite(grad).all():
        return None
    return float((grad.flatten(1).abs().amax(1) == 0).float().mean())


DEFAULTS = {"precision": "float32", "protocol": "", "channel": ""}  # for columns an older store or a caller lacks


def with_defaults(records: pd.DataFrame) -> pd.DataFrame:
    """Records with every column of :data:`DEFAULTS` (its default where a store or a caller has none)."""
    return records.assign(**{c: records[c].fillna(v) if c in records else v for c, v in DEFAULTS.items()})


def check_cells(records: pd.DataFrame) -> dict[str, list[str]]:
    """Flags per cell key from the comparisons between cells (records as the store gives them)."""
    flags: dict[str, set[str]] = {k: set() for k in records.key}
    tol = TOLERANCE_SAMPLES / records.n_samples.clip(lower=1)
    records = with_defaults(records).assign(tol=tol)
    for r in records.itertuples():
        if r.eps == 0 and abs(r.adv_acc - r.clean_acc) > 1e-9:
            flags[r.key].add("eps0_changes_accuracy")
    for _, series in records.groupby(SERIES, dropna=False):
        series = series.sort_values("eps")
        best_so_far = series.adv_acc.cummin().shift(1)
        for r, prev in zip(series.itertuples(), best_so_far):
            if pd.notna(prev) and r.adv_acc > prev + r.tol:
                single = r.attack_kind == AttackKind.SINGLE_STEP
                flags[r.key].add("single_step_not_monotone" if single else "not_monotone_in_eps")
    for _, row in records.groupby(ROW, dropna=False):
        single = row[row.attack_kind == AttackKind.SINGLE_STEP].adv_acc.min()
        for r in row[row.attack_kind == AttackKind.ITERATIVE].itertuples():
            if r.adv_acc > single + r.tol:
                flags[r.key].add("iterative_weaker_than_single_step")
        white = row[row.attack_kind.isin(WHITE_BOX)].adv_acc.min()
        for kind, flag in BLACK_BOX.items():
            for r in row[row.attack_kind == kind].itertuples():
                if r.adv_acc < white - r.tol:
                    flags[r.key].add(flag)
    defended = records[records.defenses.fillna("") != ""]
    pairs = [c for c in SERIES if c != "adaptive"] + ["eps"]
    for _, cell in defended.groupby(pairs, dropna=False):
        naive, adaptive = cell[cell.adaptive == 0], cell[cell.adaptive == 1]
        if len(naive) and len(adaptive):
            gap = naive.adv_acc.iloc[0] - adaptive.adv_acc.iloc[0]
            if gap > max(MASKING_GAP, naive.tol.iloc[0]):
                flags[naive.key.iloc[0]].add("gradient_masking")
    return {k: sorted(v) for k, v in flags.items()}
