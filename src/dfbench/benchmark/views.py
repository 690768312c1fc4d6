"""The views of a detector that a grid adds: ``[[defenses]]`` (preprocessing chains the
detector's owner puts in front of it) and ``[[channels]]`` (what a platform does to a file on its
way to the detector: 8-bit, resize, JPEG or H.264). Each is parsed into a :class:`DefenseSpec`,
attacked naively and adaptively (for a channel: channel-aware), and checked on every detector it
applies to before any compute.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..channels import channels
from ..detectors import Detector, detectors
from ..errors import ConfigError
from ..validate import check_keys, integer, require
from .cells import DefenseSpec, DetectorSpec

SELECTION_KEYS = {"eot_samples", "detectors", "training"}
DEFENSE_KEYS = {"chain", *SELECTION_KEYS}


def _selection(entry: dict, where: str, dets: list[DetectorSpec]) -> dict[str, Any]:
    """The keys every view entry shares: EOT draws and which detectors (and trainings) it applies to."""
    eot = integer(entry.get("eot_samples", 8), f"{where}: eot_samples", 1, 100)
    only = entry.get("detectors", [])
    if not isinstance(only, list) or not all(isinstance(n, str) for n in only):
        raise ConfigError(f"{where}: detectors must be a list of detector names")
    unknown = sorted(set(only) - {d.name for d in dets})
    if unknown:
        raise ConfigError(f"{where}: detectors {', '.join(unknown)} are not in the grid")
    training = entry.get("training", "any")
    if training not in ("any", "plain"):
        raise ConfigError(f"{where}: training must be \"any\" (every training of the detectors, the default) or "
                          f"\"plain\" (only those trained without a training-time defense), got {training!r}")
    return {"eot_samples": eot, "detectors": tuple(only), "plain_only": training == "plain"}


def _checked(spec: DefenseSpec, where: str, dets: list[DetectorSpec], image_size: int,
             given: Mapping[str, Detector]) -> DefenseSpec:
    for d in (d for d in dets if spec.wraps(d)):
        try:  # every layer built (checks its parameters) on every detector it wraps (checks the modality)
            spec.build(given[d.name] if d.name in given else
                       detectors.create(d.name, input_size=(image_size, image_size), **d.params))
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        except ValueError as exc:
            raise ConfigError(f"{where}: {d.name}: {exc}") from None
    return spec


def parse_defense(entry: Any, where: str, dets: list[DetectorSpec], image_size: int,
                  given: Mapping[str, Detector]) -> DefenseSpec:
    """Check a ``[[defenses]]`` entry: ``chain = [{ name = "jpeg", quality = 75 }, ...]`` and the selection."""
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a table")
    check_keys(entry, DEFENSE_KEYS, where)
    chain = require(entry, "chain", list, where)
    if not chain or not all(isinstance(c, dict) and isinstance(c.get("name"), str) for c in chain):
        raise ConfigError(f"{where}: chain must be a non-empty list of tables with a 'name'")
    spec = DefenseSpec(tuple((c["name"], {k: v for k, v in c.items() if k != "name"}) for c in chain),
                       **_selection(entry, where, dets))
    return _checked(spec, where, dets, image_size, given)


def parse_channel(entry: Any, where: str, dets: list[DetectorSpec], image_size: int,
                  given: Mapping[str, Detector]) -> DefenseSpec:
    """Check a ``[[channels]]`` entry: its layers in order, each ``name = { parameters }``
    (``jpeg = { quality = [60, 95] }``), and the selection; 8-bit rounding always comes first."""
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a table")
    layers = {k: v for k, v in entry.items() if k not in SELECTION_KEYS}
    if not layers:
        raise ConfigError(f"{where}: no channel layers; give e.g. jpeg = {{ quality = [60, 95] }} "
                          f"(known: {', '.join(n for n in channels.names() if n != '8bit')})")
    for name, params in layers.items():
        if name == "8bit":
            raise ConfigError(f"{where}: 8bit is every channel's first step already; list only what follows it")
        channels.check(name, {}, where)  # an unknown name, in one line
        if not isinstance(params, dict):
            raise ConfigError(f"{where}: {name} must be a table of its parameters, e.g. {name} = {{}}")
    spec = DefenseSpec(tuple(layers.items()), **_selection(entry, where, dets), channel=True)
    return _checked(spec, where, dets, image_size, given)


def parse_views(doc: dict, key: str, parse: Callable[..., DefenseSpec], where: str, dets: list[DetectorSpec],
                image_size: int, given: Mapping[str, Detector]) -> tuple[DefenseSpec, ...]:
    """Every entry of ``doc[key]`` parsed; the same chain twice is an error."""
    entries = doc.get(key, [])
    if not isinstance(entries, list):
        raise ConfigError(f"{where}: {key} must be a list of tables ([[{key}]])")
    specs = tuple(parse(entry, f"{where} {key}[{i}]", dets, image_size, given) for i, entry in enumerate(entries))
    if len({s.name for s in specs}) != len(specs):
        raise ConfigError(f"{where}: a {key[:-1]} chain is listed twice")
    return specs
