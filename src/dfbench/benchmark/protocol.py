"""Evaluation protocols: which numbers may be compared, and the published ones that are frozen.

A protocol is what a number means apart from the detector: the attack suite (every attack,
norm, backend, budget and parameter), the seed and the batch the random starts are drawn in,
and the data it runs on (split, image size, number of samples). Two records rank together
only when their protocols are equal (``leaderboards/table.py``). A grid names its protocol
with ``protocol = "..."``; otherwise the grid's name stands in. The record's ``protocol`` is
``<name>@<8 hex of the whole protocol>``.

Published protocols are frozen by the digest of their suite (:data:`PUBLISHED`): a grid that
calls itself ``standard-v3`` must run exactly the standard suite, and a change to the suite or to
the rules that choose an attack's output (``ATTACK_RULES``, ``RANDOMIZED_RULES``) is a new version.
A retired version (:data:`RETIRED`) cannot be claimed: this code would not give its numbers.
``tests/benchmark/test_protocol.py`` holds the shipped grids to their digests.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from ..attacks import create_attack
from ..attacks.base import ATTACK_RULES, RANDOMIZED_RULES
from ..errors import ConfigError
from .cells import AttackSpec

CURRENT_STANDARD = "standard-v3"  # the headline: the shipped `standard` grid
# protocol name -> sha256 of its suite (suite_sha256); the shipped grid that defines it
PUBLISHED: dict[str, tuple[str, str]] = {
    CURRENT_STANDARD: ("1790e5c193d93e585daa230e8268bf25d9bab6016e620f4a520021f5323fc04b", "standard"),
}
# protocols no code of this version can run, and why: their numbers rank only among themselves
RETIRED: dict[str, str] = {
    "standard-v1": "standard-v2 added an annealed margin PGD, and dfbench's PGD and APGD now keep a sample's "
                   "point of least margin (ATTACK_RULES 3)",
    "standard-v2": "standard-v3's worst case against a randomized detector (a random resize, a channel with ranges) "
                   "attacks every sample on fresh draws and carries none as fooled to the next eps "
                   "(RANDOMIZED_RULES 1); on detectors without a randomized view v3 gives v2's numbers",
}


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _resolved(a: AttackSpec) -> list[Any]:
    """An attack as it runs: its defaults filled in (``steps = 3`` and ``steps = 3, restarts = 1`` are one)."""
    attack = create_attack(a.name, eps=a.eps[0], norm=a.norm, backend=a.backend, **a.params)
    return [a.name, a.norm, a.backend, list(a.eps), attack.params()]


def suite_sha256(attacks: Sequence[AttackSpec], seed: int, batch_size: int, channel: Any = None) -> str:
    """The attack suite's digest: every attack with its defaults filled in, the rules that choose an
    attack's output (``ATTACK_RULES``, ``RANDOMIZED_RULES``), the seed and the batch size (random starts
    are drawn per batch); and the distribution channel the numbers are scored through, where there is one."""
    suite = {"attacks": [_resolved(a) for a in attacks], "rules": [ATTACK_RULES, RANDOMIZED_RULES], "seed": seed,
             "batch_size": batch_size}
    return _digest(suite if channel is None else {**suite, "channel": channel})


def check_published(name: str, attacks: Sequence[AttackSpec], seed: int, batch_size: int, where: str) -> None:
    """A grid that names a published protocol must run that protocol's suite, else a one-line ConfigError."""
    if name in RETIRED:
        raise ConfigError(f"{where}: protocol {name!r} is retired ({RETIRED[name]}); its numbers rank only among "
                          f"themselves: name another, or {CURRENT_STANDARD!r} with the shipped 'standard' grid's suite")
    if name in PUBLISHED and suite_sha256(attacks, seed, batch_size) != PUBLISHED[name][0]:
        raise ConfigError(f"{where}: protocol {name!r} is the shipped '{PUBLISHED[name][1]}' grid's attack suite, "
                          "seed and batch size, frozen; this grid changes them: drop 'protocol' or name another")


def protocol_id(name: str, suite: str, split: str, image_size: int, max_samples: int | None) -> str:
    """``<name>@<8 hex>``: the name and a digest of the suite and the data it runs on."""
    data = {"split": split, "image_size": image_size, "max_samples": max_samples}
    label = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")[:64] or "grid"  # as the entry schema allows
    return f"{label}@{_digest({'suite': suite, **data})[:8]}"
