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
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import typer
from typer.core import TyperGroup

try:  # typer >= 0.2x carries its own copy of click
    from typer._click import exceptions as cli_exceptions
except ImportError:  # older typer: click itself
    from click import exceptions as cli_exceptions  # type: ignore[no-redef]

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
        except (typer.Exit, typer.Abort, cli_exceptions.ClickException):
            raise
        except DfbenchError as exc:
            _fail(str(exc), 2)
        except OSError as exc:
            _fail(os_error_line(exc), 2)
        except Terminated:
            _fail("terminated; run the same command again to resume", 143)
        except KeyboardInterrupt:
            _fail("interrupted; run the same command again to resume", 130)
        except Exception:  # a bug in dfbench: its whole traceback is shown, then what it is and where to report it
            traceback.print_exc()
            _fail(f"internal error in dfbench {__version__} (a bug, not your input): please report it to "
                  f"{REPORT} with the traceback above", BUG_EXIT)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    return wrapper  # type: ignore[return-value]


class OneLineErrors(TyperGroup):
    """The command group with click's usage errors (an unknown option, ``--n abc``) as one line
    ``dfbench: error: ...`` and exit code 2, like every other expected failure."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, windows_expand_args: bool = True, **extra: Any) -> Any:
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False,
                                windows_expand_args=windows_expand_args, **extra)
        except cli_exceptions.NoArgsIsHelpError as exc:
            exc.show()  # the help text, as asked for by giving no arguments
            code = exc.exit_code
        except cli_exceptions.ClickException as exc:
            command = exc.ctx.command_path if isinstance(exc, cli_exceptions.UsageError) and exc.ctx else "dfbench"
            typer.echo(f"dfbench: error: {' '.join(exc.format_message().split())} (see `{command} --help`)",
                       err=True)
            code = 2
        except typer.Abort:
            typer.echo("dfbench: error: interrupted", err=True)
            code = 130
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _fail(message: str, code: int) -> None:
    line = " ".join(message.split())  # one line, whatever the message held
    typer.echo(f"dfbench: error: {line}", err=True)
    sys.stderr.flush()
    raise typer.Exit(code)
