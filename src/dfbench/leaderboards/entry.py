"""Leaderboard entries: one JSON file per evaluated detector, like RobustBench's model_info.

An entry is one detector with its training-time and preprocessing defenses, its weights and
one dataset: its clean numbers, the worst-case robust accuracy and evasion rate per attack
mode, norm and epsilon, every cell's numbers, its sanity flags and the provenance needed to
trust or reproduce it. Entries live at ``leaderboards/<dataset>/<name>.json`` and are
validated against ``entry.schema.json`` (JSON Schema 2020-12) on every read and write. The
robust numbers come from ``robust.py``; every rate carries its interval (``rates.py``).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd

from ..attacks.base import KINDS, AttackKind, eps_label
from ..benchmark.sanity import blocking, with_defaults
from ..benchmark.store import Store
from ..errors import CheckpointError, DfbenchError
from ..metrics import ENTRY_METRICS
from ..safe_files import read_json
from ..train.checkpoint import verify_weights as check_weights_file
from .rates import check_interval, check_rate, interval, number, rate
from .robust import clean_flags, clean_numbers, robust_accuracy

SCHEMA_PATH = Path(__file__).with_name("entry.schema.json")
SCHEMA_VERSION = 2  # 2: intervals, framing, AUC and EER under attack
ENTRY_KEYS = ["detector", "training", "defenses", "weights_sha256", "dataset", "precision", "protocol"]
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class EntryError(DfbenchError):
    """A leaderboard entry that is malformed, unsafe, inconsistent or a duplicate."""


@lru_cache(maxsize=1)
def schema() -> dict:
    """entry.schema.json with each cell's attack kinds and metric fields added from their declarations."""
    doc = json.loads(SCHEMA_PATH.read_text())
    cell = doc["properties"]["cells"]["items"]
    cell["properties"]["attack_kind"] = {"enum": list(KINDS)}
    for m in ENTRY_METRICS:
        cell["properties"][m.name] = m.entry_schema()
        if m.entry == "required":
            cell["required"].append(m.name)
    return doc


def safe_name(name: str, what: str = "name") -> str:
    """``name`` if it can be a file or folder name under the leaderboard root, else EntryError."""
    if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name) or ".." in name:
        raise EntryError(f"{what} {name!r} is not allowed: use letters, digits, '_', '-' and '.', "
                         "starting with a letter or digit, no '..' and no path separators")
    return name


def attack_mode(defenses: str, adaptive: int, channel: str = "") -> str:
    """"" for an undefended detector seen directly; "naive" or "adaptive" for an attack on a defense
    or through a distribution channel (there, adaptive is channel-aware: EOT and BPDA through it)."""
    return "" if not (defenses or channel) else "adaptive" if adaptive else "naive"


def default_name(detector: str, training: str, defenses: str, weights_sha256: str,
                 precision: str = "float32", protocol: str = "") -> str:
    """``custom_cnn-pgd-at-eps-0.0314-...-3f2a1b9c-standard-v3``: readable, distinct per weights, defenses,
    precision and protocol (its name; the digest is in the entry)."""
    words = " ".join(w for w in (detector, training, defenses) if w)
    slug = re.sub(r"[^A-Za-z0-9_.]+", "-", words).strip("-.").replace("..", ".")
    label, _, digest = protocol.partition("@")
    label = re.sub(r"[^A-Za-z0-9_.-]+", "-", label)
    if len(label) > 40 or label.startswith("external-"):  # long (a channel's), or one per set of files:
        label = f"{label[:31].rstrip('-.')}-{digest[:8]}"  # the digest keeps two such protocols apart
    suffix = (f"-{label}" if protocol else "") + (f"-{precision}" if precision != "float32" else "")
    return f"{slug[:110]}-{weights_sha256[:8]}{suffix}".replace("..", ".")


def _joined(values: pd.Series) -> str:
    return " + ".join(sorted({str(v) for v in values if str(v)})) or "unknown"


def _flag_details(group: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """Per flag, what raised it: the cells (attack, backend, budget, mode) with their accuracy, or
    the detector probe (run once per detector and view)."""
    details: dict[str, list[dict[str, Any]]] = {}
    for c in group.sort_values(["adaptive", "attack", "backend", "norm", "eps"]).itertuples():
        mode = attack_mode(c.defenses, c.adaptive, c.channel)
        where = f" [{mode}]" if mode else ""
        for flag in (f for f in str(c.check_flags or "").split(",") if f):
            details.setdefault(flag, []).append({"cell": f"{c.attack} ({c.backend}) {eps_label(c.norm, c.eps)}{where}",
                                                 "adv_acc": number(c.adv_acc)})
        for flag in (f for f in str(c.detector_flags or "").split(",") if f):
            probe = {"cell": f"detector probe{where}", "adv_acc": None}
            if probe not in details.setdefault(flag, []):
                details[flag].append(probe)
    return dict(sorted(details.items()))


def _normalized(records: pd.DataFrame) -> pd.DataFrame:
    """A run's records with every default filled in (no training or defenses: "")."""
    records = with_defaults(records)
    return records.assign(training=records.training.fillna(""), defenses=records.defenses.fillna(""))


def _entry_groups(records: pd.DataFrame):
    """``(key, protocol, cells)`` per entry (``ENTRY_KEYS``) of :func:`_normalized` records."""
    for key, group in records.groupby(ENTRY_KEYS, sort=True):
        protocol = key[-1]
        if not protocol:  # a store from before protocols were recorded: its grid file stands for it
            name = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(str(group.grid.iloc[0])).stem).strip("-")[:64] or "grid"
            protocol = f"{name}@{str(group.grid_sha256.iloc[0])[:8]}"
        yield key, protocol, group


def unfinished_entries(records: pd.DataFrame) -> dict[tuple[str, str], tuple[str, str]]:
    """``(dataset, entry name) -> (detector, why)`` for each entry of a store's records (every status)
    with a cell a run planned but did not finish: an entry without it would miss an attack, e.g.
    ``"5 of 66 cells not finished (4 pending, 1 failed)"``."""
    out = {}
    for key, protocol, group in _entry_groups(_normalized(records)):
        detector, training, defenses, weights, dataset, precision, _ = key
        counts = group.status[group.status != "ok"].value_counts().sort_index()
        if len(counts):
            what = ", ".join(f"{n} {status}" for status, n in counts.items())
            errors = group.error[(group.status == "failed") & (group.error != "")]
            why = f"; first error: {errors.iloc[0][:160]}" if len(errors) else ""
            out[(dataset, default_name(detector, training, defenses, weights, precision, protocol))] = (
                detector, f"{counts.sum()} of {len(group)} cells not finished ({what}{why})")
    return out


def entries_from_records(records: pd.DataFrame, samples: pd.DataFrame, flags_allowed: bool = False) -> list[dict]:
    """Build one entry per (detector, training, defenses, weights, dataset) of a run's records."""
    if records.empty:
        return []
    records = _normalized(records)
    robust = robust_accuracy(records, samples)
    created = datetime.now(UTC).isoformat(timespec="seconds")
    entries = []
    for key, protocol, group in _entry_groups(records):
        detector, training, defenses, weights, dataset, precision, _ = key
        if group.n_samples.nunique() != 1 or group.dataset_fingerprint.nunique() != 1:
            raise EntryError(f"{detector} on {dataset}: cells disagree on the number of samples or the dataset "
                             "fingerprint; use one results directory per dataset version")
        first, channel = group.iloc[0], _joined(group.channel) if group.channel.any() else ""
        clean = clean_numbers(first, samples[samples.key.isin(group.key)])
        flag_details = dict(sorted({**_flag_details(group), **clean_flags(clean)}.items()))
        rows = robust[(robust[ENTRY_KEYS].astype(str) == pd.Series(key, index=ENTRY_KEYS).astype(str)).all(axis=1)]
        entries.append({
            "schema_version": SCHEMA_VERSION,
            "name": default_name(detector, training, defenses, weights, precision, protocol),
            "detector": detector, "training": training, "defenses": defenses, "weights_sha256": weights,
            **({"precision": precision} if precision != "float32" else {}),
            "protocol": protocol,
            **({"channel": channel} if channel else {}),
            **({"external": True} if (group.attack_kind == AttackKind.EXTERNAL).all() else {}),
            **({"detector_source": _joined(group.detector_source)}
               if "detector_source" in group and group.detector_source.fillna("").any() else {}),
            "dataset": {"name": dataset, "fingerprint": first.dataset_fingerprint, "split": first.split,
                        "image_size": int(first.image_size), "n_samples": int(first.n_samples)},
            "provenance": {"dfbench_version": _joined(group.dfbench_version), "git_sha": _joined(group.git_sha),
                           "grid": _joined(group.grid), "grid_sha256": _joined(group.grid_sha256),
                           "seeds": sorted({int(s) for s in group.seed}), "created_at": created},
            "clean": clean,
            "robust": [{"attack_mode": attack_mode(defenses, r.adaptive, channel), "norm": r.norm, "eps": float(r.eps),
                        "n": int(r.n), "n_robust": int(r.n_robust), **rate("robust_acc", r.n_robust, r.n),
                        "n_detected": int(r.n_detected), "n_evaded": int(r.n_evaded),
                        **rate("evasion_rate", r.n_evaded, r.n_detected),
                        "n_accepted": int(r.n_accepted), "n_framed": int(r.n_framed),
                        **rate("framing_rate", r.n_framed, r.n_accepted),
                        "auc": number(r.auc), "auc_ci": interval((r.auc_lo, r.auc_hi)), "eer": number(r.eer),
                        "attacks": r.attacks.split(",")}
                       for r in rows.itertuples()],
            "cells": [{"attack_mode": attack_mode(defenses, c.adaptive, channel), "attack": c.attack,
                       "attack_kind": c.attack_kind, "backend": c.backend, "norm": c.norm, "eps": float(c.eps),
                       "params": json.loads(c.attack_params), "seed": int(c.seed),
                       **{m.name: number(getattr(c, m.name)) for m in ENTRY_METRICS}}
                      for c in group.sort_values(["adaptive", "attack", "backend", "norm", "eps"]).itertuples()],
            "flags": sorted(flag_details),
            "flag_details": flag_details,
            "flags_allowed": flags_allowed,
        })
    return entries


def describe_flags(entry: dict, flags: list[str] | None = None) -> str:
    """``gradient_masking: pgd (native) linf 8/255 [naive] 0.650; ...``: each flag with the cells that raised it."""
    def cell(d: dict) -> str:
        return d["cell"] + (f" {d['adv_acc']:.3f}" if d["adv_acc"] is not None else "")

    return "; ".join(f"{f}: {', '.join(cell(d) for d in entry['flag_details'].get(f, []))}"
                     for f in (entry["flags"] if flags is None else flags))


def entries_from_store(store: Store, flags_allowed: bool = False) -> list[dict]:
    return entries_from_records(store.records(), store.samples(), flags_allowed)


def validate_entry(entry: Any, source: str = "entry") -> dict:
    """Check ``entry`` against the schema and its own arithmetic; EntryError names the first problem."""
    if isinstance(entry, dict) and entry.get("schema_version") == 1:
        raise EntryError(f"{source}: schema version 1 (before intervals, framing and AUC under attack); make it "
                         "again from its results: `dfbench submit --out RESULTS --replace`")
    try:
        jsonschema.validate(entry, schema())
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise EntryError(f"{source}: does not match the entry schema at {where}: {exc.message}") from None
    safe_name(entry["name"], f"{source}: name")
    safe_name(entry["dataset"]["name"], f"{source}: dataset name")
    n, clean = entry["dataset"]["n_samples"], entry["clean"]["acc"]
    try:
        check_rate(entry["clean"], "acc", round(clean * n), n, f"{source}: clean")
        check_interval(entry["clean"]["auc"], entry["clean"]["auc_ci"], "auc", f"{source}: clean")
        for r in entry["robust"]:
            where = f"{source}: robust at {r['attack_mode'] or 'undefended'} {r['norm']} eps={r['eps']}"
            if r["n"] != n or r["n_robust"] > r["n"] or r["robust_acc"] > clean + 1e-6 \
                    or r["n_evaded"] > r["n_detected"] or r["n_framed"] > r["n_accepted"] \
                    or r["n_detected"] + r["n_accepted"] > r["n"]:
                raise EntryError(f"{where}: counts do not add up ({r['n_robust']}/{r['n']} robust of {n} samples, "
                                 f"clean acc {clean}, {r['n_evaded']}/{r['n_detected']} evaded, "
                                 f"{r['n_framed']}/{r['n_accepted']} framed)")
            check_rate(r, "robust_acc", r["n_robust"], r["n"], where)
            check_rate(r, "evasion_rate", r["n_evaded"], r["n_detected"], where)
            check_rate(r, "framing_rate", r["n_framed"], r["n_accepted"], where)
            check_interval(r["auc"], r["auc_ci"], "auc", where)
    except DfbenchError as exc:
        raise EntryError(str(exc)) from None
    if sorted(entry["flag_details"]) != sorted(entry["flags"]) or not all(entry["flag_details"].values()):
        raise EntryError(f"{source}: flag_details must name the cells of every flag and no other "
                         f"(flags {entry['flags']}, details of {sorted(entry['flag_details'])})")
    if blocking(entry["flags"]) and not entry["flags_allowed"]:
        raise EntryError(f"{source}: has sanity flags that mean a number cannot be trusted "
                         f"({describe_flags(entry, blocking(entry['flags']))}); not submitted with --allow-flags")
    return entry


def read_entry(path: Path, root: Path | None = None) -> dict:
    """Load and validate one entry file (a regular file inside ``root``, by default its folder: a
    link out of the leaderboard is refused); its name must match the file and its dataset the folder."""
    path = Path(path)
    try:
        entry = read_json(path, "entry", root=root if root is not None else path.parent)
    except DfbenchError as exc:
        raise EntryError(str(exc)) from None
    validate_entry(entry, str(path))
    if entry["name"] != path.stem or entry["dataset"]["name"] != path.parent.name:
        raise EntryError(f"{path}: entry {entry['name']!r} on {entry['dataset']['name']!r} belongs at "
                         f"<root>/{entry['dataset']['name']}/{entry['name']}.json")
    return entry


def verify_weights(entry: dict, folder: Path) -> None:
    """If the entry names its weights file (inside the leaderboard), its sha256 must be the entry's."""
    if "weights_file" not in entry:
        return
    folder = Path(folder).resolve()
    path = (folder / entry["weights_file"]).resolve()
    if not path.is_relative_to(folder.parent):
        raise EntryError(f"entry {entry['name']!r}: weights file {entry['weights_file']} lies outside the "
                         "leaderboard folder")
    try:
        check_weights_file(path, entry["weights_sha256"], f"entry {entry['name']!r}", entry["detector"])
    except CheckpointError as exc:  # its message names the entry already
        raise EntryError(str(exc)) from None


def entry_path(root: Path, entry: dict) -> Path:
    """``<root>/<dataset>/<name>.json``, refusing names that would leave ``root``."""
    dataset = safe_name(entry["dataset"]["name"], "dataset name")
    name = safe_name(entry["name"], "entry name")
    root = Path(root).resolve()
    path = (root / dataset / f"{name}.json").resolve()
    if root not in path.parents:
        raise EntryError(f"entry {name!r} would be written outside {root}")
    return path


def identity(entry: dict) -> tuple:
    """What makes two entries the same submission."""
    return (entry["detector"], entry["training"], entry["defenses"], entry["weights_sha256"],
            entry["dataset"]["name"], entry["dataset"]["fingerprint"], protocol_of(entry))


def protocol_of(entry: dict) -> str:
    """The entry's protocol; an entry from before protocols were recorded stands for its grid file."""
    return entry.get("protocol") or f"{entry['provenance']['grid']}@{entry['provenance']['grid_sha256'][:8]}"


def check_new_entry(root: Path, entry: dict, replace: bool = False) -> Path:
    """Where ``entry`` would go; EntryError if it is invalid, exists (without ``replace``) or duplicates another."""
    path = entry_path(root, entry)
    validate_entry(entry, f"entry {entry['name']!r}")
    if path.exists() and not replace:
        raise EntryError(f"{path} exists already; pass --replace to overwrite it")
    for other in sorted(path.parent.glob("*.json")):
        if other == path:
            continue
        try:
            same = identity(read_json(other, "entry", root=path.parent)) == identity(entry)
        except (DfbenchError, KeyError, TypeError):
            continue  # a broken neighbour is reported by `leaderboard build`, not here
        if same:
            raise EntryError(f"{other} already holds this detector, defenses and weights on "
                             f"{entry['dataset']['name']}")
    return path


def write_json(path: Path, payload: Any) -> None:
    """Write ``payload`` as JSON atomically, readable by all (mkstemp alone would leave it 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=1, allow_nan=False)
            f.write("\n")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_entry(root: Path, entry: dict, replace: bool = False) -> Path:
    """Validate and write ``entry`` atomically; refuse to overwrite or duplicate unless ``replace``."""
    path = check_new_entry(root, entry, replace)
    write_json(path, entry)
    return path
