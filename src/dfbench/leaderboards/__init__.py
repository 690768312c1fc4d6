"""Leaderboards: results -> tables (and, later, plots, entries and the static site)."""

from .table import leaderboard, robust_accuracy, to_markdown, transfer_matrix, write_tables

__all__ = ["leaderboard", "robust_accuracy", "to_markdown", "transfer_matrix", "write_tables"]
