"""Leaderboards: a run's records -> entries (schema-validated JSON) -> tables, plots and the site."""

from .entry import entries_from_store, read_entry, validate_entry, write_entry
from .robust import robust_accuracy
from .table import leaderboard, to_markdown, transfer_matrix, write_tables

__all__ = ["entries_from_store", "leaderboard", "read_entry", "robust_accuracy", "to_markdown", "transfer_matrix",
           "validate_entry", "write_entry", "write_tables"]
