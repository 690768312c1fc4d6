"""Which of a classifier's labels mean fake: polarity from ``id2label`` by name, never by position.

Published classifiers disagree: ``{0: "Deepfake", 1: "Realism"}``, ``{0: "Fake", 1: "Real"}``,
``{0: "Artificial", 1: "Deepfake", 2: "Real"}``. A label is read as words (case and punctuation
ignored: ``"AI-generated"`` -> ``ai generated``); a word of :data:`FAKE_WORDS` makes it fake-like,
one of :data:`REAL_WORDS` real-like, both or neither unrecognised. Two classes need one of each;
more classes need exactly one real-like label and at least one fake-like (P(fake) = 1 - P(real):
every label that is not the real one counts as fake, a recognized fake-like one or not).
Anything else is refused in one line that lists the labels and the argument that settles it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ...errors import ConfigError

FAKE_WORDS = frozenset({"fake", "fakes", "deepfake", "deepfakes", "artificial", "synthetic", "generated", "ai",
                        "aigenerated", "aigc", "manipulated", "forged", "forgery", "spoof", "spoofed", "gan",
                        "diffusion", "altered", "swapped", "faceswap", "counterfeit"})
REAL_WORDS = frozenset({"real", "reals", "realism", "authentic", "human", "pristine", "original", "genuine",
                        "bonafide", "natural", "live", "true", "nonfake"})


def words(label: str) -> set[str]:
    """``"AI-Generated"`` -> ``{"ai", "generated", "aigenerated"}``: lower-case words, and the whole label
    without punctuation (so ``"bona fide"`` and ``"non-fake"`` match as one word)."""
    parts = [w for w in re.split(r"[^0-9a-z]+", label.lower()) if w]
    return {*parts, "".join(parts)}


def kind(label: str) -> str:
    """``"fake"``, ``"real"`` or ``""`` (unrecognised or both)."""
    w = words(label)
    fake, real = bool(w & FAKE_WORDS), bool(w & REAL_WORDS)
    if "nonfake" in w or "notfake" in w:
        return "real"
    return "fake" if fake and not real else "real" if real and not fake else ""


@dataclass(frozen=True)
class Polarity:
    """How ``(N, C)`` class logits become (real, fake): ``real`` is the one real class (P(fake) =
    1 - P(real)), or None when ``fake`` lists the fake classes whose probabilities add up."""

    classes: int
    fake: tuple[int, ...]
    real: int | None

    def describe(self, id2label: Mapping[int, str]) -> str:
        if self.real is not None:
            return f"P(fake) = 1 - P({id2label[self.real]!r})"
        return "P(fake) = P(" + " + ".join(repr(id2label[i]) for i in self.fake) + ")"


def polarity(id2label: Mapping[int, str], where: str, fake_labels: Sequence[str] | None = None,
             real_label: str | None = None) -> Polarity:
    """The polarity of a classifier with labels ``id2label`` (index -> name); ``fake_labels`` /
    ``real_label`` settle it by name where the names do not."""
    n = len(id2label)
    if sorted(id2label) != list(range(n)) or n < 2:
        raise ConfigError(f"{where}: id2label must name classes 0..N-1 (N >= 2), got {dict(id2label)}")
    shown = ", ".join(f"{i}: {id2label[i]!r}" for i in range(n))
    settle = ("settle it with fake_labels=[...] or real_label=... (load_detector's arguments, or keys of the "
              "grid's [[detectors]] entry)")
    by_name = {label: i for i, label in id2label.items()}
    for given in [*(fake_labels or ()), *([real_label] if real_label is not None else [])]:
        if given not in by_name:
            raise ConfigError(f"{where}: label {given!r} is not one of the model's labels ({shown})")
    if real_label is not None:
        real = by_name[real_label]
        fake = tuple(i for i in range(n) if i != real)
        if fake_labels is not None and set(fake) != {by_name[f] for f in fake_labels}:
            raise ConfigError(f"{where}: fake_labels and real_label must split the labels ({shown}) in two")
        return Polarity(n, fake, real)
    if fake_labels is not None:
        if not fake_labels:
            raise ConfigError(f"{where}: fake_labels is empty: name at least one fake label ({shown})")
        fake = tuple(sorted({by_name[f] for f in fake_labels}))
        if len(fake) == n:
            raise ConfigError(f"{where}: fake_labels names every label ({shown}); leave at least one real")
        rest = [i for i in range(n) if i not in fake]
        return Polarity(n, fake, rest[0] if len(rest) == 1 else None)
    kinds = [kind(id2label[i]) for i in range(n)]
    reals, fakes = [i for i, k in enumerate(kinds) if k == "real"], [i for i, k in enumerate(kinds) if k == "fake"]
    if n == 2 and len(reals) == 1 and len(fakes) == 1:
        return Polarity(2, tuple(fakes), reals[0])
    if n > 2 and len(reals) == 1 and fakes:
        return Polarity(n, tuple(i for i in range(n) if i != reals[0]), reals[0])
    unknown = [id2label[i] for i, k in enumerate(kinds) if not k]
    why = (f"{n} classes, {len(fakes)} fake-like and {len(reals)} real-like"
           + (f"; unrecognised: {', '.join(map(repr, unknown[:6]))}{' ...' if len(unknown) > 6 else ''}"
              if unknown else ""))
    raise ConfigError(f"{where}: cannot tell which labels mean fake ({why}; labels: "
                      f"{shown if n <= 12 else shown[:300] + ' ...'}); {settle}")
