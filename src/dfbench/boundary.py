"""The command line's one boundary: every expected failure becomes one line and exit code 2.

Expected: a DfbenchError (bad input, explained where it was found) and an OSError on a path the
user gave (a folder where a file is meant, no permission, a full disk). An interrupt (Ctrl-C,
or SIGTERM, turned into :class:`Terminated`) unwinds the run so that worker processes are
stopped, and exits 130 (143 for SIGTERM). Anything else is a bug in dfbench: its traceback is
shown, with a line that says so and where to report it.
"""

from __future__ import annotations

import functools
import signal
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import click
import typer

from . import __version__
from .errors import DfbenchError

F = TypeVar("F", bound=Callable[..., Any])
BUG_EXIT = 3
REPORT = "the dfbench issue tracker"


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C so that cleanup code runs."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated()


def os_error_line(exc: OSError) -> str:
    """``Is a directory: results/x`` (the path the error concerns, when it has one)."""
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"{reason}: {' -> '.join(paths)}" if paths else reason


def user_errors(fn: F) -> F:
    """Run a command inside the boundary (see the module docstring)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        previous = signal.signal(signal.SIGTERM, _on_sigterm) if _main_thread() else None
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, click.exceptions.Exit, click.exceptions.ClickException,
                click.exceptions.Abort):
            raise
        except DfbenchError as exc:
            _fail(str(exc), 2)
        except OSError as exc:
            _fail(os_error_line(exc), 2)
        except Terminated:
            _fail("terminated; run the same command again to resume", 143)
        except KeyboardInterrupt:
            _fail("interrupted; run the same command again to resume", 130)
        except Exception:
            traceback.print_exc()
            _fail(f"internal error in dfbench {__version__} (a bug, not your input): please report it to "
                  f"{REPORT} with the traceback above", BUG_EXIT)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    return wrapper  # type: ignore[return-value]


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _fail(message: str, code: int) -> None:
    line = " ".join(message.split())  # one line, whatever the message held
    typer.echo(f"dfbench: error: {line}", err=True)
    sys.stderr.flush()
    raise typer.Exit(code)
