"""The one interface every attack implements."""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import Tensor

from .._registry import Registry
from ..detectors.base import Detector
from ..detectors.wrapped import require_detector
from ..metrics.perturbation import perturbation_norms

Norm = Literal["linf", "l2"]
NORMS: tuple[str, ...] = ("linf", "l2")
BUDGET_TOLERANCE = 1e-5
# How every attack's output is chosen, part of each cell's key: a change here is a change of numbers.
# 2: AutoAttack's rule (a sample already fooled keeps its first adversarial); 1 (absent): last iterates.
# 3: and in dfbench's PGD and APGD a sample never clearly fooled keeps its point of least margin over
#    every iterate and restart (2: PGD's last iterate, the last restart's), which may flip the decision;
#    the worst-case cascade keeps the least-margin example and drops only clearly fooled samples.
ATTACK_RULES = 3
# How an attack with ``randomized_rules`` treats a randomized target (a random resize, a channel with
# ranges), part of the key of those cells: 1: the worst-case cascade drops no sample and carries none as
# fooled to the next eps (absent: it did, on the attack's own draws, which the scoring draw need not repeat).
RANDOMIZED_RULES = 1
_EARLY_EXIT = [True]  # switched off only to measure what early exit saves (without_early_exit)
FOOLED_MARGIN = 1e-2  # logits: how far past the decision a sample must be to count as already fooled


class AttackKind(StrEnum):
    """What threat model an attack is: the sanity checks compare kinds, the tables group by them."""

    SINGLE_STEP = "single_step"
    ITERATIVE = "iterative"
    MINIMUM_NORM = "minimum_norm"
    QUERY = "query"  # black box: scores only
    TRANSFER = "transfer"  # black box: crafted on a surrogate
    ENSEMBLE = "ensemble"  # the worst case over member attacks
    EXTERNAL = "external"  # adversarial files made elsewhere (`dfbench score`): the threat model is unknown

    @property
    def white_box(self) -> bool:
        """Uses the target's gradients alone (an ensemble may hold black-box members)."""
        return self in (AttackKind.SINGLE_STEP, AttackKind.ITERATIVE, AttackKind.MINIMUM_NORM)


KINDS: tuple[str, ...] = tuple(k.value for k in AttackKind)
# backend -> (importable module, what to install); "native" is dfbench's own code
BACKEND_MODULES: dict[str, tuple[str, str]] = {
    "torchattacks": ("torchattacks", "torchattacks"),
    "art": ("art", "adversarial-robustness-toolbox"),
    "foolbox": ("foolbox", "foolbox"),
}
# resolve(name, params) -> a trained detector; given to attacks that need other detectors
Resolver = Callable[[str, dict[str, Any]], Detector]


@dataclass(frozen=True)
class Cost:
    """Passes through the detector per sample for one run of an attack: ``gradient`` (forward and
    backward to the input) and ``forward`` (scores only). For estimates (``dfbench run --dry-run``)."""

    gradient: int
    forward: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.gradient + other.gradient, self.forward + other.forward)


class BudgetError(RuntimeError):
    """An attack returned an input outside its threat model (a bug in the attack)."""


class Attack:
    """Returns ``x_adv`` in [0, 1] with ``||x_adv - x||_p <= eps`` (per sample).

    The detector is an argument of :meth:`perturb`, so one attack object serves a whole
    grid. Subclasses implement :meth:`run`; the base class puts the detector in eval mode,
    freezes its parameters for the call (no weight gradients are computed), fixes the
    random state (torch and numpy) from ``seed``, aims at the detector's decision at its
    calibrated threshold (:class:`AtThreshold`), and checks the budget of what comes back.

    Shape: ``x`` ``(N, 3, H, W)`` or ``(N, T, 3, H, W)`` in [0, 1], ``y`` ``(N,)`` int64.
    """

    name: ClassVar[str]
    kind: ClassVar[AttackKind] = AttackKind.ITERATIVE
    norms: ClassVar[tuple[str, ...]] = NORMS
    backends: ClassVar[tuple[str, ...]] = ("native",)
    # True when x_adv does not depend on the detector attacked (transfer): crafted once per grid
    target_independent: ClassVar[bool] = False
    # True when it treats a randomized target by RANDOMIZED_RULES (the worst-case cascade): in its cells' keys
    randomized_rules: ClassVar[bool] = False
    # AutoAttack's rule: a sample already fooled (at its calibrated threshold) keeps its first
    # adversarial and is not attacked further; off for a transfer attack's base (it attacks a surrogate)
    first_adversarial: bool = True

    def __init__(self, *, eps: float, norm: str = "linf", backend: str = "native", seed: int = 0) -> None:
        if norm not in self.norms:
            raise ValueError(f"{self.name} supports norms {', '.join(self.norms)}, not {norm!r}")
        if backend not in self.backends:
            raise ValueError(f"{self.name} has backends {', '.join(self.backends)}, not {backend!r}")
        require_backend(backend)
        eps = float(eps)
        if not eps >= 0 or eps == float("inf"):
            raise ValueError(f"eps must be a finite number >= 0, got {eps}")
        if norm == "linf" and eps > 1:
            raise ValueError(f"an L-inf eps above 1 covers the whole [0, 1] image (got {eps}); write e.g. 8/255")
        self.eps, self.norm, self.backend, self.seed = eps, norm, backend, int(seed)

    def params(self) -> dict[str, Any]:
        """The attack's own parameters (beyond eps, norm, backend, seed), for the record."""
        return {}

    def cost(self) -> Cost:
        """Detector passes per sample of one run (an upper bound where it stops early)."""
        return Cost(1)

    def sweep_cost(self, n_eps: int) -> Cost:
        """Passes per sample of one :meth:`sweep` over ``n_eps`` budgets: one run serves them all, by default."""
        return self.cost()

    def run(self, detector: Detector, x: Tensor, y: Tensor) -> Tensor:
        raise NotImplementedError

    @property
    def sweeps(self) -> bool:
        """One run serves every eps of a grid entry (a cascade, a minimum-norm attack): the attack
        declares it by implementing :meth:`run_sweep`."""
        return type(self).run_sweep is not Attack.run_sweep

    def run_sweep(self, detector: Detector, x: Tensor, y: Tensor, eps_values: Sequence[float]) -> list[Tensor]:
        """``x_adv`` for each of ``eps_values`` from one run, for attacks that can (see :meth:`sweep`)."""
        raise NotImplementedError(f"{self.name} does not sweep")

    def sweep(self, detector: Detector, x: Tensor, y: Tensor, eps_values: Sequence[float]) -> list[Tensor]:
        """:meth:`perturb` at each of ``eps_values`` from one run; the budget of each is checked.

        Shape: ``x`` ``(N, ...)`` -> a list of ``(N, ...)``, one per eps, in ``eps_values`` order."""
        require_detector(detector, f"{type(self).__name__}.sweep")
        with self.attacking(detector, x) as model:
            outs = self._unless_fooled(model, x.detach(), y, len(eps_values),
                                       lambda xs, ys: self.run_sweep(model, xs, ys, eps_values))
        return [check_budget(x, o.detach(), eps, self.norm) for o, eps in zip(outs, eps_values)]

    def keeps_first_adversarial(self, detector: Detector) -> bool:
        """AutoAttack's rule applies: the attack aims at this very detector, which is deterministic."""
        return self.first_adversarial and not self.target_independent and not detector.randomized

    def _unless_fooled(self, model: Detector, x: Tensor, y: Tensor, n_out: int,
                       attack: Callable[[Tensor, Tensor], list[Tensor]]) -> list[Tensor]:
        """``attack`` on the samples ``model`` gets right; one it already gets (clearly) wrong is its own
        first adversarial and is not attacked at all."""
        if not self.keeps_first_adversarial(model):
            return attack(x, y)
        with torch.no_grad():
            wrong = fooled(model(x), y, model)
        outs = [x.clone() for _ in range(n_out)]
        idx = (~wrong).nonzero().squeeze(1)
        if len(idx):
            for out, part in zip(outs, attack(x[idx], y[idx])):
                out[idx] = part
        return outs

    def early_exit(self, detector: Detector) -> dict[str, bool]:
        """The native loops' switches for ``detector``: keep first adversarials, stop early."""
        first = self.keeps_first_adversarial(detector)
        return {"first_adversarial": first, "early_exit": first and _EARLY_EXIT[0]}

    def prepare(self, resolve: Resolver) -> None:
        """Get the other detectors this attack needs (a transfer attack's surrogate).

        The harness calls it once before :meth:`perturb`; most attacks need nothing.
        """

    def perturb(self, detector: Detector, x: Tensor, y: Tensor) -> Tensor:
        """Attack ``detector``'s decision at its calibrated threshold; checks the budget.

        At eps 0 the ball holds ``x`` alone, which is returned without running the attack
        (several libraries refuse a zero step)."""
        require_detector(detector, f"{type(self).__name__}.perturb")
        if self.eps == 0:
            return x.detach().clone()
        with self.attacking(detector, x) as model:
            (x_adv,) = self._unless_fooled(model, x.detach(), y, 1, lambda xs, ys: [self.run(model, xs, ys)])
        return check_budget(x, x_adv.detach(), self.eps, self.norm)

    @contextmanager
    def attacking(self, detector: Detector, x: Tensor) -> Iterator[Detector]:
        """The detector as attacks see it: eval mode, parameters frozen, random state seeded,
        logits shifted to its threshold. Everything is restored afterwards."""
        was_training = detector.training
        detector.eval()
        try:
            with frozen(detector), torch.random.fork_rng(devices=_cuda_devices(x)), numpy_seeded(self.seed):
                torch.manual_seed(self.seed)
                yield AtThreshold.wrap(detector)
        finally:
            detector.train(was_training)

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v}" for k, v in self.params().items())
        return f"{type(self).__name__}(eps={self.eps:.6g}, norm={self.norm}, backend={self.backend}{extra})"


def fooled(logits: Tensor, y: Tensor, model: torch.nn.Module | None = None) -> Tensor:
    """``(N,)`` bool: clearly fooled. ``model``'s own decision (:meth:`Detector.decide`, the one the
    benchmark scores; for any other module, the larger logit) is wrong, and the true class's logit
    trails by more than :data:`FOOLED_MARGIN` (attacks see logits shifted to the calibrated threshold
    by :class:`AtThreshold`), so a decision the scoring pass could flip (another batch, bfloat16)
    never counts as fooled."""
    correct = logits.gather(1, y[:, None]).squeeze(1)
    other = logits.gather(1, (1 - y)[:, None]).squeeze(1)
    decision = model.decide(logits) if isinstance(model, Detector) else (logits[:, 1] >= logits[:, 0]).long()
    return (decision != y) & (correct - other < -FOOLED_MARGIN)


@contextmanager
def without_early_exit() -> Iterator[None]:
    """dfbench's loops keep first adversarials but attack every sample to their last step: what early
    exit saves is measured against this (``benchmarks/early_exit.py``); the decisions are the same (and,
    but for CW's ``stop_at_budget``, the examples)."""
    before = _EARLY_EXIT[0]
    _EARLY_EXIT[0] = False
    try:
        yield
    finally:
        _EARLY_EXIT[0] = before


def format_eps(eps: float) -> str:
    """``8/255`` when eps is a whole number of 255ths, else ``0.5``: how a budget is written for people."""
    k = Fraction(eps).limit_denominator(255) * 255
    if k.denominator == 1 and abs(float(k) / 255 - eps) < 1e-9:
        return f"{int(k)}/255"
    return f"{eps:g}"


def eps_label(norm: str, eps: float) -> str:
    """``linf 8/255`` for an L-inf budget of whole 255ths, else ``l2 0.5`` or ``linf 0.03``."""
    return f"{norm} {format_eps(eps) if norm == 'linf' else f'{eps:g}'}"


def require_backend(backend: str) -> None:
    """Raise a one-line ValueError when a backend's library is not installed."""
    module, package = BACKEND_MODULES.get(backend, (None, None))
    if module is not None and importlib.util.find_spec(module) is None:
        raise ValueError(f"backend {backend!r} needs the {package} package: pip install {package}")


class AtThreshold(Detector):
    """The same detector with its fake logit shifted by ``-logit(threshold)``.

    ``argmax`` of the shifted logits is the detector's decision at its calibrated threshold,
    so every attack (and every library's success test) aims at the boundary the benchmark
    scores. Cross-entropy gradients keep their direction per sample; margins move by a
    constant. Shape: like the wrapped detector, ``(N, 2)`` logits.
    """

    def __init__(self, inner: Detector) -> None:
        super().__init__(inner.input_size)
        self.inner = inner
        self.threshold = 0.5
        t = min(max(float(inner.threshold), 1e-12), 1 - 1e-12)  # exact but finite (a threshold of 0 or 1)
        self.shift = math.log(t) - math.log1p(-t)
        self.training = inner.training  # this module only: never change the inner mode

    @classmethod
    def wrap(cls, detector: Detector) -> Detector:
        return detector if detector.threshold == 0.5 else cls(detector)

    def forward(self, x: Tensor) -> Tensor:
        z = self.inner(x)
        return torch.stack([z[:, 0], z[:, 1] - self.shift], dim=1)

    def decide(self, logits: Tensor) -> Tensor:
        """The inner detector's own decision, from the shifted logits: the benchmark's, to the bit."""
        return self.inner.decide(torch.stack([logits[:, 0], logits[:, 1] + self.shift], dim=1))


@contextmanager
def frozen(module: torch.nn.Module) -> Iterator[None]:
    """Turn off ``requires_grad`` on every parameter for the block, then restore it."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


@contextmanager
def numpy_seeded(seed: int) -> Iterator[None]:
    """Seed numpy's global generator for the block (ART draws its random starts there), then restore it."""
    state = np.random.get_state()
    np.random.seed(seed % 2**32)
    try:
        yield
    finally:
        np.random.set_state(state)


def _cuda_devices(x: Tensor) -> list[int]:
    return [x.device.index or 0] if x.is_cuda else []


def check_budget(x: Tensor, x_adv: Tensor, eps: float, norm: str) -> Tensor:
    """Raise BudgetError when ``x_adv`` leaves [0, 1] or the eps-ball beyond float tolerance;
    snap float-rounding excess back inside. Returns the (snapped) ``x_adv``."""
    if x_adv.shape != x.shape or not torch.isfinite(x_adv).all():
        raise BudgetError("attack returned a tensor of the wrong shape or with NaN/inf")
    linf, l2 = perturbation_norms(x, x_adv)
    size = linf if norm == "linf" else l2
    tol = BUDGET_TOLERANCE * max(1.0, eps)
    if (size > eps + tol).any() or x_adv.min() < -tol or x_adv.max() > 1 + tol:
        raise BudgetError(f"attack exceeded its budget: max {norm} {float(size.max()):.6g} > eps {eps:.6g}, "
                          f"range [{float(x_adv.min()):.4g}, {float(x_adv.max()):.4g}]")
    return project(x, x_adv, eps, norm)


def project(x: Tensor, x_adv: Tensor, eps: float, norm: str) -> Tensor:
    """Project ``x_adv`` onto the eps-ball around ``x`` intersected with [0, 1]."""
    delta = x_adv - x
    if norm == "linf":
        delta = delta.clamp(-eps, eps)
    else:
        n = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
        factor = (eps / n).clamp(max=1.0).view(-1, *([1] * (x.ndim - 1)))
        delta = delta * factor
    return (x + delta).clamp(0, 1)


attacks: Registry[Attack] = Registry("attack", "dfbench.attacks")
register_attack = attacks.register
