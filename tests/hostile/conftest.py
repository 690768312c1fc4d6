"""The hostile-input corpus: what each case must show.

A case runs one command in-process (typer's CliRunner, stdout and stderr apart) inside a fresh
workspace and asserts the whole outcome: the exit code; exactly one error line, ``dfbench:
error: ...``, holding the expected words; no traceback; no file in the workspace created,
changed or removed except under the paths the case allows (a results folder); no child
process left running.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dfbench.cli import app

REPO = Path(__file__).parents[2]


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` (links not followed): kind, size, mtime and content digest."""
    found: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            info = path.lstat()
            digest = ""
            if path.is_file() and not path.is_symlink():
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[str(path.relative_to(root))] = (info.st_mode, info.st_size if digest else 0,
                                                  info.st_mtime_ns if digest else 0, digest)
    return found


def children() -> set[int]:
    """Live processes whose parent is this one (Linux /proc; empty elsewhere)."""
    me, found = str(os.getpid()), set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


@dataclass
class Workspace:
    root: Path

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    def write(self, name: str, content: str | bytes) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path

    def refused(self, args: list, message: str, code: int = 2, may_change: tuple[str, ...] = ()) -> str:
        """Run ``dfbench *args``; assert the outcome the module docstring names; return the error line."""
        before, kids = snapshot(self.root), children()
        result = CliRunner().invoke(app, [str(a) for a in args])
        assert "Traceback" not in result.output, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        assert result.exit_code == code, (result.exit_code, result.output)
        errors = [line for line in result.stderr.splitlines() if line.startswith("dfbench: error: ")]
        assert len(errors) == 1, result.stderr
        assert message in errors[0], errors[0]
        after = snapshot(self.root)
        changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
        unexpected = {p for p in changed if not (may_change and p.startswith(may_change))}
        assert not unexpected, sorted(unexpected)
        assert children() <= kids, "a process was left running"
        return errors[0]


@pytest.fixture
def ws(tmp_path, tmp_path_factory, monkeypatch) -> Workspace:
    """A workspace that is also the working directory and $HOME, so no default path reaches out of it
    (matplotlib's font cache, written on its first import, is kept outside: it is not dfbench's)."""
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path_factory.getbasetemp() / "matplotlib"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DFBENCH_CACHE", str(tmp_path / "home-cache"))
    return Workspace(tmp_path)
