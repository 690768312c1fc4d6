"""The results store: one SQLite file, one row per grid cell plus its per-sample scores.

Each cell is written in a single transaction (record and samples together), so a run
killed at any moment leaves only whole cells; WAL journaling keeps readers unblocked.
All SQL is parameterized.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import DfbenchError
from ..metrics.cell import METRIC_NAMES, undefined_metrics

SCHEMA_VERSION = 5  # 3 added batch_size, 4 data_params, 5 precision (2 to 4 migrate in place)
ADDED_COLUMNS = {"batch_size": "INTEGER NOT NULL DEFAULT 0", "data_params": "TEXT NOT NULL DEFAULT ''",
                 "precision": "TEXT NOT NULL DEFAULT 'float32'", "detector_source": "TEXT NOT NULL DEFAULT ''",
                 "protocol": "TEXT NOT NULL DEFAULT ''", "channel": "TEXT NOT NULL DEFAULT ''"}
# A metric declared after a store was written is a NULL column there (undefined for old cells):
# metric columns are added on open, in any store of the current schema.


@dataclass(frozen=True)
class CellRecord:
    """One grid cell's result: what was evaluated, how, and its numbers (``metrics``, one per
    declared metric of :data:`dfbench.metrics.METRICS`; NaN, undefined, is stored as NULL)."""

    key: str
    status: str  # "ok" | "failed" | "pending" (planned by a run that has not written it yet)
    error: str
    detector: str
    training: str  # a training-time defense ("" for plain training), e.g. "pgd-at(eps=0.0314, ratio=0.5, steps=7)"
    weights_sha256: str
    defenses: str  # the preprocessing chain, "" if none
    adaptive: int  # 1: attacked through the defenses' BPDA/EOT gradient paths; 0: naively (or undefended)
    attack: str
    attack_kind: str  # an AttackKind value: single_step | iterative | minimum_norm | query | transfer | ensemble
    backend: str
    norm: str
    eps: float
    attack_params: str  # JSON object
    dataset: str
    dataset_fingerprint: str
    split: str
    image_size: int
    n_samples: int
    threshold: float
    seconds: float
    seed: int
    grid: str
    grid_sha256: str
    dfbench_version: str
    git_sha: str
    detector_flags: str = ""  # sanity flags from probing the detector, comma-separated
    check_flags: str = ""  # sanity flags from comparing cells; rewritten after every run
    batch_size: int = 0  # the batch the cell ran with: the grid's, or less after a GPU out-of-memory
    data_params: str = ""  # JSON: how files became inputs (root, frames, sampling, crop size/margin, skips)
    precision: str = "float32"  # the detector's forward/backward: float32, or bfloat16 under autocast
    detector_source: str = ""  # a detector from a file: "path/to/file.py:factory@<sha256 of the file>"
    protocol: str = ""  # what the number is comparable with: "standard-v3@1a2b3c4d" (benchmark/protocol.py)
    channel: str = ""  # the distribution channel it was scored through, "8bit -> jpeg(quality=75)"; "" for none
    metrics: dict[str, float] = field(default_factory=undefined_metrics)

    def row(self) -> dict[str, Any]:
        """The record as one flat row of the ``cells`` table."""
        row = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "metrics"}
        return {**row, **{name: self.metrics.get(name, math.nan) for name in METRIC_NAMES}}


_SQL_TYPES = {"int": "INTEGER", "float": "REAL", "str": "TEXT"}
_FIELDS = [f for f in fields(CellRecord) if f.name != "metrics"]
COLUMNS = [*(f.name for f in _FIELDS), *METRIC_NAMES]
# what names a cell but for its key: two rows alike in these differ only in rules the key holds
# (``ATTACK_RULES``, ``RANDOMIZED_RULES``): the same cell, planned by two versions of dfbench
CELL_COORDINATES = ("detector", "training", "weights_sha256", "defenses", "channel", "adaptive", "attack", "backend",
                    "norm", "eps", "attack_params", "dataset", "dataset_fingerprint", "split", "image_size",
                    "n_samples", "seed", "batch_size", "grid", "data_params", "precision", "detector_source")


def _ddl() -> str:
    def column(f) -> str:
        if f.name in ADDED_COLUMNS:  # with its default, as a migration adds it: older versions can write it too
            return f"{f.name} {ADDED_COLUMNS[f.name]}"
        sql_type = _SQL_TYPES[f.type if isinstance(f.type, str) else f.type.__name__]
        constraint = " PRIMARY KEY" if f.name == "key" else " NOT NULL" if sql_type != "REAL" else ""
        return f"{f.name} {sql_type}{constraint}"

    cols = ",\n  ".join([*(column(f) for f in _FIELDS), *(f"{name} REAL" for name in METRIC_NAMES)])
    return f"""
CREATE TABLE IF NOT EXISTS cells (
  {cols},
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS cells_by_cell ON cells (detector, attack, eps);  -- finds a cell's rows under other keys
CREATE TABLE IF NOT EXISTS samples (
  key TEXT NOT NULL REFERENCES cells(key) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  label INTEGER NOT NULL,
  clean_score REAL NOT NULL,
  adv_score REAL NOT NULL,
  PRIMARY KEY (key, idx)
);
"""


def _sql_value(v):
    return None if isinstance(v, float) and math.isnan(v) else v


APPLICATION_ID = 0x64666263  # "dfbc" in SQLite's header: this file is a dfbench results store
OWN_TABLES = {"cells", "samples"}


def check_ownership(path: Path) -> None:
    """Refuse, untouched, an existing file that is not a dfbench store. A store written before the
    application id existed (id 0, dfbench's schema numbers and tables only) is accepted."""
    if not path.exists() and not path.is_symlink():
        return
    if path.is_symlink() or not path.is_file():
        raise DfbenchError(f"results store {path} is not a regular file; give a new --out folder")
    if path.stat().st_size == 0:
        return  # an empty file holds nothing to lose
    try:  # immutable: no lock, journal or -shm file is made on somebody else's database
        app, version, tables = _header(path, "mode=ro&immutable=1")
        if (app, version, tables) == (0, 0, set()) and Path(f"{path}-wal").exists():
            app, version, tables = _header(path, "mode=ro")  # a store whose writer died: its tables are in the WAL
    except sqlite3.Error as exc:
        raise DfbenchError(f"{path} is not a dfbench results store ({exc}); give a new --out folder") from None
    legacy = app == 0 and version in (2, 3, 4, SCHEMA_VERSION) and tables == OWN_TABLES
    if app != APPLICATION_ID and not legacy:
        raise DfbenchError(f"{path} is not a dfbench results store (SQLite application id {app:#x}, tables "
                           f"{', '.join(sorted(tables)) or 'none'}); it is left untouched: give a new --out folder")


def _header(path: Path, mode: str) -> tuple[int, int, set[str]]:
    """(application id, user version, table names) of the SQLite file ``path``, opened read-only."""
    probe = sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True)  # as_uri quotes '#', '?' and '%'
    try:
        app, version = (probe.execute(f"PRAGMA {p}").fetchone()[0] for p in ("application_id", "user_version"))
        tables = {t for (t,) in probe.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        probe.close()
    return app, version, tables


class Store:
    """Results of one results directory: ``<dir>/results.sqlite``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            check_ownership(self.path)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(self.path)
            self.conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, 2, 3, 4, SCHEMA_VERSION):
                raise DfbenchError(f"results store {self.path} has schema {version}; this dfbench reads "
                                   f"{SCHEMA_VERSION} (use a new --out directory; the old one is kept)")
            with self.conn:  # idempotent: a crash mid-migration is repaired on the next open
                self.conn.executescript(_ddl())
                self._add_missing_columns()
                self.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except (OSError, sqlite3.Error) as exc:
            raise DfbenchError(f"cannot open results store {self.path}: {exc} "
                               "(is the results directory writable?)") from None

    def _add_missing_columns(self) -> None:
        """Columns of a store of schema 2 to 4, and metrics declared since the store was written."""
        columns = {row[1] for row in self.conn.execute("PRAGMA table_info(cells)")}
        wanted = {**ADDED_COLUMNS, **dict.fromkeys(METRIC_NAMES, "REAL")}
        for name, sql in wanted.items():
            if name not in columns:
                self.conn.execute(f"ALTER TABLE cells ADD COLUMN {name} {sql}")

    def close(self) -> None:
        self.conn.close()

    def done_keys(self) -> set[str]:
        return {k for (k,) in self.conn.execute("SELECT key FROM cells WHERE status = 'ok'")}

    def put(self, record: CellRecord, labels=None, clean_scores=None, adv_scores=None) -> None:
        """Write one cell and its per-sample scores atomically (replacing a failed attempt)."""
        row = record.row()
        placeholders = ", ".join("?" for _ in COLUMNS)
        try:
            with self.conn:
                self.conn.execute("DELETE FROM cells WHERE key = ?", (record.key,))
                self.conn.execute(f"INSERT INTO cells ({', '.join(COLUMNS)}) VALUES ({placeholders})",
                                  [_sql_value(row[c]) for c in COLUMNS])
                if labels is not None:
                    self.conn.executemany(
                        "INSERT INTO samples (key, idx, label, clean_score, adv_score) VALUES (?, ?, ?, ?, ?)",
                        [(record.key, i, int(lab), float(c), float(a))
                         for i, (lab, c, a) in enumerate(zip(labels, clean_scores, adv_scores))])
        except sqlite3.Error as exc:
            raise DfbenchError(f"cannot write to results store {self.path}: {exc}") from None

    def put_pending(self, records: list[CellRecord]) -> None:
        """Mark the cells a run has planned as "pending" in one transaction, so a reader of the store
        knows what is missing if the run stops; a cell already stored (a failed one with its error) is kept.
        An unfinished row of a cell planned now, or finished since, under another key (:data:`CELL_COORDINATES`:
        by a dfbench whose rules have changed since) is dropped: it would keep its entry unfinished for ever.
        One newer than the finished row (the new rules' cell failed where the old ones' finished) is kept."""
        placeholders, same = ", ".join("?" for _ in COLUMNS), " AND ".join(f"{c} IS ?" for c in CELL_COORDINATES)
        finished = " AND ".join(f"done.{c} IS cells.{c}" for c in CELL_COORDINATES)
        rows = [r.row() for r in records]
        try:  # not INSERT OR IGNORE: that would also drop a row that breaks a constraint, without a word
            with self.conn:
                self.conn.executemany(f"DELETE FROM cells WHERE status != 'ok' AND key != ? AND {same}",
                                      [[row["key"], *(_sql_value(row[c]) for c in CELL_COORDINATES)] for row in rows])
                self.conn.execute(f"DELETE FROM cells WHERE status != 'ok' AND EXISTS (SELECT 1 FROM cells AS done "
                                  f"WHERE done.status = 'ok' AND done.key != cells.key "
                                  f"AND done.created_at > cells.created_at AND {finished})")
                self.conn.executemany(f"INSERT INTO cells ({', '.join(COLUMNS)}) VALUES ({placeholders}) "
                                      "ON CONFLICT(key) DO NOTHING",
                                      [[_sql_value(row[c]) for c in COLUMNS] for row in rows])
        except sqlite3.Error as exc:
            raise DfbenchError(f"cannot write to results store {self.path}: {exc}") from None

    def set_protocols(self, protocols: dict[str, str]) -> int:
        """Relabel finished cells of a protocol's name under another digest (a dfbench whose digest has
        changed since) with the digest planned now (key -> ``name@digest``); the number relabelled. Same
        key, same numbers. A cell another protocol (another grid) stored keeps its label: it is that
        grid's entries' as well, and moving it would leave them incomplete."""
        rows = [(p, k, p, len(name := p.partition("@")[0] + "@"), name) for k, p in protocols.items()]
        try:
            with self.conn:
                before = self.conn.total_changes
                self.conn.executemany("UPDATE cells SET protocol = ? WHERE key = ? AND status = 'ok' AND protocol != ? "
                                      "AND substr(protocol, 1, ?) = ?", rows)
                return self.conn.total_changes - before
        except sqlite3.Error as exc:
            raise DfbenchError(f"cannot write to results store {self.path}: {exc}") from None

    def set_check_flags(self, flags: dict[str, list[str]]) -> None:
        """Rewrite every cell's ``check_flags`` in one transaction."""
        try:
            with self.conn:
                self.conn.executemany("UPDATE cells SET check_flags = ? WHERE key = ?",
                                      [(",".join(v), k) for k, v in flags.items()])
        except sqlite3.Error as exc:
            raise DfbenchError(f"cannot write to results store {self.path}: {exc}") from None

    def records(self, status: str | None = "ok") -> pd.DataFrame:
        query, args = "SELECT * FROM cells", tuple[str, ...]()
        if status is not None:
            query, args = query + " WHERE status = ?", (status,)
        return pd.read_sql_query(query + " ORDER BY detector, attack, norm, eps", self.conn, params=args)

    def samples(self) -> pd.DataFrame:
        return pd.read_sql_query(
            "SELECT s.key, s.idx, s.label, s.clean_score, s.adv_score FROM samples s "
            "JOIN cells c ON c.key = s.key WHERE c.status = 'ok'", self.conn)
