"""A cell's identity: what is evaluated (detector, defenses, attack, eps) and its key and seed.

A cell is one detector, undefended or behind a defense chain attacked naively or adaptively,
under one attack at one epsilon, on one grid's data. Its key hashes its whole specification
(:meth:`Cell.spec`) with the weights' sha256 and the dataset fingerprint: same key, same
numbers, so a stored key is never run again. The attack's seed derives from the attack's own
specification only (docs/protocol.md, "Seeds").
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..attacks.base import ATTACK_RULES, RANDOMIZED_RULES
from ..channels import channel_layers
from ..defenses import Defense, adaptive_is_naive, create_defense, defend
from ..detectors import Detector
from ..train.trained import describe_training, training_config

if TYPE_CHECKING:
    from .grid import Grid

# The fields of Cell.spec that name the target (the detector and its defenses). A
# target-independent attack (transfer) crafts one set of examples per spec without them.
TARGET_FIELDS = ("detector", "detector_params", "training", "defenses", "adaptive", "defense_params",
                 "source_sha256", "channel", "channel_eot_samples")


@dataclass(frozen=True)
class DetectorSpec:
    name: str
    weights: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)  # a training-time defense (train.training_config)
    source: str = ""  # --model path/to/file.py:factory (detectors/from_file.py), registered on first use
    source_sha256: str = ""  # of that file: part of the cell's key and record

    @property
    def training_name(self) -> str:
        return describe_training(training_config(self.training, 0))


@dataclass(frozen=True)
class AttackSpec:
    name: str
    norm: str
    backend: str
    eps: tuple[float, ...]
    params: dict[str, Any] = field(default_factory=dict)
    sweeps: bool = False  # the attack runs all its eps values as one cascade (Attack.sweep)
    randomized_rules: bool = False  # it follows RANDOMIZED_RULES against a randomized target (Attack.randomized_rules)


@dataclass(frozen=True)
class DefenseSpec:
    """A chain of preprocessing defenses, in the order the input travels."""

    chain: tuple[tuple[str, dict[str, Any]], ...]
    eot_samples: int = 8  # draws per gradient for randomized defenses, in adaptive attacks
    detectors: tuple[str, ...] = ()  # the detectors it wraps; () = every detector of the grid
    plain_only: bool = False  # `training = "plain"`: not their adversarially trained or distilled variants
    channel: bool = False  # a distribution channel ([[channels]]), not a defense: see dfbench.channels

    def wraps(self, detector: DetectorSpec) -> bool:
        """Whether this defense wraps ``detector`` (by name, and by training where asked)."""
        return ((not self.detectors or detector.name in self.detectors)
                and not (self.plain_only and detector.training_name))

    def layers(self) -> Sequence[Defense]:
        """Fresh, unattached layers in reading order (a channel's begin with its 8-bit rounding)."""
        if self.channel:
            return channel_layers(self.chain)
        return [create_defense(name, **params) for name, params in self.chain]

    def build(self, detector: Detector) -> Detector:
        """Fresh defense (or channel) layers around ``detector``."""
        return defend(detector, *self.layers())

    def adaptive_is_naive(self, detector: Detector) -> bool:
        """Whether attacking ``detector`` behind this chain adaptively is attacking it naively
        (:func:`dfbench.defenses.adaptive_is_naive`); never for a channel, whose naive attack
        crafts on the bare detector."""
        try:
            return not self.channel and adaptive_is_naive(self.build(detector))
        except (RuntimeError, ValueError, ArithmeticError):  # a view that cannot be built: its cells fail
            return False  # in the worker, with the reason, as every other view's

    @property
    def randomized(self) -> bool:
        """Whether a layer draws random numbers at inference (the attacks then follow ``RANDOMIZED_RULES``)."""
        return any(layer.randomized for layer in self.layers())

    def attack_target(self, bare: Detector, scored: Detector, adaptive: bool) -> Detector:
        """What an attack differentiates: a naive attack on a channel crafts on the raw input (the
        bare detector); every other view attacks the scored detector (with BPDA/EOT when adaptive)."""
        return bare if self.channel and not adaptive else scored

    @property
    def name(self) -> str:
        return " -> ".join(layer.describe() for layer in self.layers())

    @property
    def slug(self) -> str:
        """The name in letters, digits, '.', '_' and '-' (for a protocol's name)."""
        return re.sub(r"[^A-Za-z0-9_.]+", "-", self.name).strip("-")


@dataclass(frozen=True)
class Cell:
    """One cell: a detector, undefended or behind a defense chain attacked naively or
    adaptively, under one attack at one epsilon."""

    detector: DetectorSpec
    attack: AttackSpec
    eps: float
    defense: DefenseSpec | None = None
    adaptive: bool = False

    @property
    def defenses(self) -> str:
        """The detector's preprocessing chain ('' for none, and for a channel view)."""
        return self.defense.name if self.defense and not self.defense.channel else ""

    @property
    def channel(self) -> str:
        """The distribution channel the cell is scored through ('' for none)."""
        return self.defense.name if self.defense and self.defense.channel else ""

    @property
    def randomized_rules(self) -> bool:
        """Whether ``RANDOMIZED_RULES`` apply: the attack has them, and it sees a randomized detector
        (:meth:`DefenseSpec.attack_target`: a naive attack on a channel crafts on the bare detector)."""
        return bool(self.attack.randomized_rules and self.defense and self.defense.randomized
                    and not (self.defense.channel and not self.adaptive))

    def spec(self, grid: Grid) -> dict[str, Any]:
        return {
            "detector": self.detector.name, "detector_params": self.detector.params,
            "training": self.detector.training_name,
            "defenses": self.defenses, "adaptive": self.adaptive,
            "defense_params": [self.defense.chain, self.defense.eot_samples]
            if self.defense and not self.defense.channel else None,
            **({"channel": self.channel, "channel_eot_samples": self.defense.eot_samples}  # as resolved
               if self.defense and self.defense.channel else {}),  # absent: keys of channel-free cells hold
            "attack": self.attack.name, "backend": self.attack.backend, "norm": self.attack.norm,
            "eps": self.eps, "attack_params": self.attack.params, "dataset": grid.dataset,
            "image_size": grid.image_size, "split": grid.split, "max_samples": grid.max_samples, "seed": grid.seed,
            "batch_size": grid.batch_size,  # random starts are drawn per batch
            "attack_rules": ATTACK_RULES,  # what an attack returns: a change of rules is a change of numbers
            **({"randomized_rules": RANDOMIZED_RULES} if self.randomized_rules else {}),
            **({"data_params": grid.keyed_data_params()} if grid.keyed_data_params() else {}),  # absent: old keys hold
            **({"precision": grid.precision} if grid.precision != "float32" else {}),
            **({"source_sha256": self.detector.source_sha256} if self.detector.source else {}),
        }

    def target_free_spec(self, grid: Grid) -> str:
        """The spec without the target's fields, as a string: one per set of transfer examples."""
        return json.dumps({k: v for k, v in self.spec(grid).items() if k not in TARGET_FIELDS}, sort_keys=True)

    def key(self, grid: Grid, weights_sha256: str, dataset_fingerprint: str) -> str:
        """Identity of the cell's result: same key, same numbers."""
        payload = {**self.spec(grid), "weights": weights_sha256, "data": dataset_fingerprint}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]

    def seed(self, grid: Grid) -> int:
        """The attack's seed: from the grid seed and the attack's specification only, so it does
        not depend on the order cells run in, and every detector and epsilon of one attack entry
        draws the same random numbers (transfer examples crafted once serve every target)."""
        spec = {"attack": self.attack.name, "backend": self.attack.backend, "norm": self.attack.norm,
                "attack_params": self.attack.params, "seed": grid.seed}
        return int(hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:8], 16)
