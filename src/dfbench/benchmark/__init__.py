"""The benchmark harness, one stage per module (docs/architecture.md):

grid.py (TOML -> Grid) -> cells.py (a cell's identity) -> prepare.py (data, detectors,
surrogates) -> plan.py (jobs) -> executors/ + worker.py + craft.py (records) -> store.py
(SQLite); driver.py runs them in that order; sanity.py flags numbers that cannot be trusted.
"""
