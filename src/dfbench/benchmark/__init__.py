"""The benchmark harness: grid files, cells, the runner, the results store and metrics."""

from .grid import Cell, Grid, load_grid
from .runner import RunSummary, run_grid
from .store import CellRecord, Store

__all__ = ["Cell", "CellRecord", "Grid", "RunSummary", "Store", "load_grid", "run_grid"]
