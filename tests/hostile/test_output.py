"""Names that other programs would run: entries whose detector, training or defense strings are
spreadsheet formulas or HTML build a leaderboard whose CSV cells are escaped and whose Markdown
carries no raw HTML (OWASP's CSV injection; Markdown renderers pass HTML through)."""

from __future__ import annotations

import csv
import json

import pytest

from .test_files_read_whole import ENTRY

NAMES = {
    "formula": "=HYPERLINK(\"http://x\",\"click\")",
    "plus_formula": "+cmd|' /C calc'!A0",
    "at_formula": "@SUM(1+1)*cmd|' /C calc'!A0",
    "tab_start": "\t=1+1",
    "html": "<img src=x onerror=alert(1)>",
    "script": "</script><script>alert(1)</script>",
    "pipes_and_newlines": "a | b\n| c |",
    "escaped_pipe": "a\\|b",
}


@pytest.mark.parametrize("case", sorted(NAMES))
def test_hostile_names_reach_the_tables_inert(ws, case):
    name = NAMES[case]
    entry = json.loads(ENTRY.read_text())
    entry["detector"] = name
    ws.write(f"lb/mini/{ENTRY.name}", json.dumps(entry))
    from typer.testing import CliRunner

    from dfbench.cli import app

    result = CliRunner().invoke(app, ["leaderboard", "build", "--leaderboards", str(ws.root / "lb")])
    assert result.exit_code == 0, result.output
    site = ws.root / "lb" / "site"
    rows = list(csv.DictReader((site / "leaderboard.csv").open(newline="")))
    cells = {row["detector"] for row in rows}
    assert cells and all(not c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells), cells
    assert all(c.lstrip("'") == name for c in cells)  # escaped, not mangled
    markdown = (site / "leaderboard.md").read_text()
    assert "<" not in markdown and ">" not in markdown
    assert len({len(line.split(" | ")) for line in markdown.splitlines()[2:] if line}) == 1  # no forged column
    page = (site / "index.html").read_text()
    assert name not in page or "<" not in name  # names with markup appear only escaped in the page's data


def test_numbers_are_not_escaped(ws, tmp_path):
    import pandas as pd

    from dfbench.leaderboards.table import write_tables

    write_tables(pd.DataFrame({"detector": ["-x"], "robust": [-0.5]}), tmp_path)
    assert (tmp_path / "leaderboard.csv").read_text().splitlines()[1] == "'-x,-0.5000"
