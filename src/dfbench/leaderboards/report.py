"""A results directory's tables: the leaderboard (and the transfer matrix), printed and written."""

from __future__ import annotations

from pathlib import Path

from ..benchmark.store import Store
from .entry import entries_from_store
from .table import leaderboard, to_markdown, transfer_matrix, write_tables

TRANSFER_TITLE = "Transfer: robust accuracy of each target (columns) under examples crafted on a surrogate"


def results_tables(store: Store, out: Path) -> tuple[str, list[Path]]:
    """The Markdown of the store's leaderboard and transfer matrix, and the CSV/Markdown files
    written next to it in ``out`` (none, and '(no results)', when no cell finished)."""
    entries = entries_from_store(store)
    table = leaderboard(entries)
    if table.empty:
        return "(no results)", []
    text, paths = to_markdown(table), write_tables(table, out)
    matrix = transfer_matrix(entries)
    if not matrix.empty:
        text += f"\n\n{TRANSFER_TITLE}\n{to_markdown(matrix)}"
        paths += write_tables(matrix, out, stem="transfer")
    return text, paths
