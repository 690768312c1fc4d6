"""`dfbench submit`: a run's results -> leaderboard entries, all of them checked before any is written."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..benchmark.sanity import blocking
from ..benchmark.store import Store
from ..errors import DfbenchError
from ..train.checkpoint import find_weights, verify_weights
from .audits import attach_audits, read_audits
from .entry import check_new_entry, describe_flags, entries_from_records, safe_name, unfinished_entries, write_entry


def attach_weights(entry: dict, weights: Path | None, cache_dir: Path, root: Path) -> None:
    """The weights ``entry`` was computed with (``weights``, else found in ``cache_dir`` by its
    sha256) must hash to its ``weights_sha256``; a file inside ``root`` is named in the entry."""
    path = weights or find_weights(entry["weights_sha256"], cache_dir)
    if path is None:
        raise DfbenchError(f"{entry['detector']}: no weights with sha256 {entry['weights_sha256'][:12]}... in "
                           f"{cache_dir}; pass --weights PATH")
    verify_weights(path, entry["weights_sha256"], entry["detector"], entry["detector"])
    folder = (root / entry["dataset"]["name"]).resolve()
    if path.resolve().is_relative_to(root.resolve()):  # publishable with the leaderboard: name it
        entry["weights_file"] = os.path.relpath(path.resolve(), folder)


@dataclass
class Submitted:
    written: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "<entry name>: <why>", one per entry left out


def submit(out: Path, root: Path, cache_dir: Path, detectors: list[str] | None = None, name: str | None = None,
           weights: Path | None = None, allow_flags: bool = False, replace: bool = False) -> Submitted:
    """Write one entry per detector x training x defenses x weights of the results in ``out``;
    every check (flags, weights, names, duplicates) passes before the first write. An entry with
    a cell its run planned but did not finish (stopped, or failed) is left out and named: without
    that cell it would miss an attack and overstate robustness."""
    path = out / "results.sqlite"
    if not path.is_file():
        raise DfbenchError(f"no results store at {path}; run `dfbench run --out {out}` first")
    store = Store(path)
    try:
        records, samples = store.records(status=None), store.samples()
    finally:
        store.close()
    finished = records[records.status == "ok"].reset_index(drop=True)
    entries = entries_from_records(finished, samples, flags_allowed=allow_flags)
    attach_audits(entries, read_audits(out))
    unfinished = {k: v for k, v in unfinished_entries(records).items() if not detectors or v[0] in detectors}
    skipped = [f"{entry_name}: {why}" for (_, entry_name), (_, why) in sorted(unfinished.items())]
    entries = [e for e in entries if (not detectors or e["detector"] in detectors)
               and (e["dataset"]["name"], e["name"]) not in unfinished]
    if not entries and skipped:
        raise DfbenchError(f"no entry of {path} is finished ({'; '.join(skipped)}); run `dfbench run --out {out}` "
                           "with the same grid again to finish them")
    if not entries:
        raise DfbenchError(f"{path} holds no finished cells" + (f" of {', '.join(detectors)}" if detectors else ""))
    _refuse_one_name_twice(entries, path)
    if name is not None:
        if len(entries) + len(skipped) != 1:  # never the name meant for a skipped entry on another
            raise DfbenchError(f"--name names one entry, but {len(entries) + len(skipped)} would be submitted"
                               f"{f' ({len(skipped)} not finished)' if skipped else ''}; select one with --detector")
        entries[0]["name"] = safe_name(name, "--name")
    for entry in entries:
        if blocking(entry["flags"]) and not allow_flags:
            raise DfbenchError(f"{entry['name']} has sanity flags that mean a number cannot be trusted "
                               f"({describe_flags(entry, blocking(entry['flags']))}); fix the detector or pass "
                               "--allow-flags (the flags stay on the entry)")
        attach_weights(entry, weights, cache_dir, root)
        check_new_entry(root, entry, replace=replace)
    return Submitted([write_entry(root, entry, replace=replace) for entry in entries], skipped)


def _refuse_one_name_twice(entries: list[dict], path: Path) -> None:
    """Two entries of one store under one file name (the same view under two protocols of one name,
    e.g. a randomized view's cells from before and after its rules changed) would overwrite each other."""
    seen: dict[tuple[str, str], str] = {}
    for entry in entries:
        where = (entry["dataset"]["name"], entry["name"])
        if where in seen:
            raise DfbenchError(f"{path} holds {entry['name']} twice, under protocols {seen[where]} and "
                               f"{entry['protocol']}: run the grid into a fresh --out, or delete the older "
                               "protocol's cells, and submit again")
        seen[where] = entry["protocol"]
