"""The benchmark harness: grid.py (grid files, cells), runner.py, store.py (SQLite), metrics.py."""
