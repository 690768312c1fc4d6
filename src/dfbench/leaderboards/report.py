"""A results directory's tables: the leaderboard (and the transfer matrix), printed and written."""

from __future__ import annotations

import logging
from pathlib import Path

from ..benchmark.store import Store
from ..errors import DfbenchError
from .entry import entries_from_store, unfinished_entries
from .robust import clean_flags
from .table import leaderboard, to_markdown, transfer_matrix, write_tables

log = logging.getLogger(__name__)
TRANSFER_TITLE = "Transfer: robust accuracy of each target (columns) under examples crafted on a surrogate"


TABLE_FILES = ("leaderboard.csv", "leaderboard.md", "transfer.csv", "transfer.md")


def check_results_folder(out: Path, store: str = "results.sqlite") -> None:
    """Refuse a results folder where dfbench would overwrite tables it did not write: one that holds
    a table file but no results store (a store's own folder is dfbench's)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DfbenchError(f"results folder {out} is a file; give a folder with --out")
    if out.is_dir() and not (out / store).exists():
        clash = [name for name in TABLE_FILES if (out / name).exists()]
        if clash:
            raise DfbenchError(f"{out} holds {', '.join(clash)} but no dfbench results store; dfbench would "
                               "overwrite them: give a new --out folder")


def results_tables(store: Store, out: Path) -> tuple[str, list[Path]]:
    """The Markdown of the store's leaderboard and transfer matrix, and the CSV/Markdown files
    written next to it in ``out`` (none, and '(no results)', when no cell finished)."""
    entries = entries_from_store(store)
    for line in chance_warnings(entries):
        log.warning("%s", line)
    for (_, name), (_, why) in sorted(unfinished_entries(store.records(status=None)).items()):
        log.warning("%s: %s; its numbers lack those attacks (run again to finish them)", name, why)
    table = leaderboard(entries)
    if table.empty:
        return "(no results)", []
    text, paths = to_markdown(table), write_tables(table, out)
    matrix = transfer_matrix(entries)
    if not matrix.empty:
        text += f"\n\n{TRANSFER_TITLE}\n{to_markdown(matrix)}"
        paths += write_tables(matrix, out, stem="transfer")
    return text, paths


CHANCE_WHY = {"clean_auc_at_chance": "is not distinguishable from chance (0.5); its robustness numbers say little "
                                     "about a detector",
              "clean_auc_below_chance": "lies below chance (0.5): the detector ranks fakes as real; are its two "
                                        "classes swapped?"}


def chance_warnings(entries: list[dict]) -> list[str]:
    """One line per entry whose clean AUC interval holds 0.5 or lies below it (:func:`clean_flags`):
    a detector not told apart from chance, or inverted (entries of one detector view warn once)."""
    lines = []
    for e in entries:
        for flag, details in clean_flags(e["clean"]).items():
            via = f"via {e['channel']}" if e.get("channel") else ""
            label = " ".join(w for w in (e["detector"], e["training"], e["defenses"], via) if w)
            lines.append(f"warning: {label}: {details[0]['cell']} {CHANCE_WHY[flag]}")
    return list(dict.fromkeys(lines))
