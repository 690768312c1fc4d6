"""`dfbench leaderboard build`: entry files -> Markdown, CSV, plots and the static HTML site.

Everything is rendered from the entry files under ``<root>/<dataset>/*.json`` only. Every entry
is validated (schema, arithmetic, file location, weights hash where it names its weights file,
no duplicates) before anything is written, and the site is rendered into a temporary folder
beside ``<root>/site`` and swapped in whole, so a failed build leaves the old site as it was.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import tempfile
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path

import pandas as pd

from .. import __version__
from ..errors import DfbenchError
from .entry import EntryError, identity, protocol_of, read_entry, verify_weights
from .plots import attack_heatmap, robustness_curves, transfer_heatmap
from .table import interval_columns, leaderboard, to_markdown, transfer_matrix, write_tables

log = logging.getLogger(__name__)
SITE = "site"
SITE_MARKER = ".dfbench-site"
SITE_FILES = {SITE_MARKER, "index.html", "assets", "plots", "leaderboard.csv", "leaderboard.md", "transfer.csv",
              "transfer.md"}

_TEXT = {"name", "detector", "training", "defenses", "channel", "attack_mode", "weights", "dataset", "protocol", "at",
         "flags", "flag_details"}
_HELP = {"worst_case": "lowest robust accuracy over attack modes at the headline budget ('at')",
         "evasion_rate": "highest share of detected fakes made to score real, at the headline budget",
         "framing_rate": "highest share of reals accepted clean made to score fake, at the headline budget",
         "robust_auc": "lowest ROC AUC of the worst-case scores over attack modes, at the headline budget",
         "robust_eer": "highest equal error rate of the worst-case scores, at the headline budget",
         "attack_mode": "naive or adaptive (BPDA/EOT) attack on a preprocessing defense or through a channel "
                        "(adaptive: channel-aware); blank: undefended",
         "channel": "the platform's channel the numbers were scored through (8-bit, resize, JPEG, H.264); blank: none"}


def load_entries(root: Path) -> list[dict]:
    """Every entry under ``root``, validated; EntryError names the first bad file."""
    root = Path(root)
    if not root.is_dir():
        raise EntryError(f"leaderboard root {root} is not a folder")
    entries: list[dict] = []
    seen: dict[tuple, Path] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name != SITE and not p.name.startswith(".")):
        for path in sorted(folder.glob("*.json")):
            entry = read_entry(path, root)
            verify_weights(entry, path.parent)
            if identity(entry) in seen:
                raise EntryError(f"{path} duplicates {seen[identity(entry)]} (same detector, defenses, weights, "
                                 "dataset and protocol); remove one")
            seen[identity(entry)] = path
            entries.append(entry)
    return entries


def _json_cell(v):
    return None if isinstance(v, float) and math.isnan(v) else v


def _page_data(table: pd.DataFrame, entries: list[dict], plots: list[dict]) -> dict:
    with_ci = set(interval_columns(table))
    shown = [c for c in table.columns if (not c.endswith((" lo", " hi")) or c[:-3] not in with_ci)
             and c != "flag_details"]  # the flags column shows the details on hover
    eps_columns = {c: c.split()[0] for c in shown if c.startswith(("linf ", "l2 "))}
    columns = [{"key": c, "label": c.replace("_", " "), "kind": "text" if c in _TEXT else "number",
                "norm": eps_columns.get(c), "digits": 0 if c in ("rank", "n") else 3, "interval": c in with_ci,
                "help": _HELP.get(c, "") + (" (95% interval in brackets)" if c in with_ci else "")}
               for c in shown]
    rows = [{k: _json_cell(v) for k, v in row.items()} for row in table.to_dict("records")]
    return {"columns": columns, "rows": rows, "plots": plots, "entries": len(entries),
            "datasets": sorted({e["dataset"]["name"] for e in entries}),
            "protocols": sorted({protocol_of(e) for e in entries}),
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"), "dfbench_version": __version__}


def render_site(entries: list[dict], out: Path) -> None:
    """Write the whole site for ``entries`` into the empty folder ``out``."""
    table = leaderboard(entries)
    (out / "assets").mkdir(parents=True)
    (out / "plots").mkdir()
    (out / SITE_MARKER).write_text("made by `dfbench leaderboard build`, which replaces this folder whole\n")
    template = files(__package__) / "site"
    for asset in ("app.js", "style.css"):
        (out / "assets" / asset).write_text(template.joinpath(asset).read_text(encoding="utf-8"), encoding="utf-8")
    if not table.empty:
        write_tables(table, out)
    matrix = transfer_matrix(entries)
    if not matrix.empty:
        write_tables(matrix, out, stem="transfer")
    plots = []
    for dataset in sorted({e["dataset"]["name"] for e in entries}):
        mine = [e for e in entries if e["dataset"]["name"] == dataset]
        for title, draw, stem in (("robust accuracy vs epsilon", robustness_curves, "curves"),
                                  ("accuracy per attack", attack_heatmap, "attacks"),
                                  ("transfer matrix", transfer_heatmap, "transfer")):
            if draw(mine, out / "plots" / f"{dataset}-{stem}.png"):
                plots.append({"dataset": dataset, "title": title, "src": f"plots/{dataset}-{stem}.png"})
    data = json.dumps(_page_data(table, entries, plots), allow_nan=False)
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")  # inert in <script>
    page = template.joinpath("index.html").read_text(encoding="utf-8").replace("__DATA__", data)
    (out / "index.html").write_text(page, encoding="utf-8")


def _ours(site: Path) -> bool:
    """The site folder holds the marker, or only what a build before markers wrote."""
    if site.is_symlink() or not site.is_dir():
        return False
    return (site / SITE_MARKER).is_file() or {p.name for p in site.iterdir()} <= SITE_FILES


def build(root: Path) -> tuple[Path, list[dict]]:
    """Validate every entry under ``root``, then render ``<root>/site`` and swap it in whole."""
    root = Path(root)
    entries = load_entries(root)
    if not entries:
        raise EntryError(f"no entries under {root}/<dataset>/*.json; add one with `dfbench submit`")
    site, old = root / SITE, root / ".site-old"
    if site.exists() and not _ours(site):
        raise DfbenchError(f"{site} was not made by `dfbench leaderboard build` (no {SITE_MARKER} in it); it is left "
                           "untouched: move it away to build the site")
    try:
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=".site-new-"))
    except OSError as exc:
        raise DfbenchError(f"cannot write under {root}: {exc.strerror}") from None
    try:
        try:
            render_site(entries, tmp / SITE)
        except (KeyError, TypeError, ValueError) as exc:  # schema-valid but unrenderable
            raise EntryError(f"cannot render the leaderboard from {root}: {type(exc).__name__}: {exc}") from None
        shutil.rmtree(old, ignore_errors=True)
        if site.exists():
            site.rename(old)
        try:
            (tmp / SITE).rename(site)
        except OSError:
            if old.exists():
                old.rename(site)  # put the previous site back
            raise
        shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        raise DfbenchError(f"cannot write the site under {root}: {exc}; the previous site is unchanged") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("leaderboard: %d entries -> %s", len(entries), site)
    return site, entries


__all__ = ["build", "load_entries", "render_site", "to_markdown"]
