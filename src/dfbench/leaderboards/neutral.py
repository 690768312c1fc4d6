"""Text cells made inert for the programs that read the tables: spreadsheets and Markdown renderers.

Names come from entries and results stores that anyone may write. A CSV cell that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to a spreadsheet (OWASP's CSV
injection): it gets a leading ``'``. In Markdown, ``<``, ``>`` and ``&`` become entities (no raw
HTML reaches the page), ``|`` is escaped (no forged columns) and line breaks become spaces.
Numbers are left as they are.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_MARKDOWN = str.maketrans({"\\": "\\\\", "<": "&lt;", ">": "&gt;", "&": "&amp;", "|": "\\|", "\n": " ",
                           "\r": " "})


def csv_text(value: Any) -> Any:
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def markdown_text(value: Any) -> Any:
    return value.translate(_MARKDOWN) if isinstance(value, str) else value


def neutral(table: pd.DataFrame, cell: Any) -> pd.DataFrame:
    """``table`` with ``cell`` applied to every text cell and column name."""
    out = table.rename(columns=lambda c: cell(str(c)))
    for c in out.columns:
        if not pd.api.types.is_numeric_dtype(out[c]):
            out[c] = out[c].map(cell, na_action="ignore")
    return out
