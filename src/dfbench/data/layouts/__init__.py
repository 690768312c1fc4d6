"""Real datasets' own folder layouts, one file each; each registers a dataset (see ../files.py)."""

from . import celebdf, dfdc, faces140k, ffpp, folder  # noqa: F401  (registration)
