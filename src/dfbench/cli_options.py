"""Options and helpers the `dfbench` commands share (cli.py, cli_files.py)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .safe_files import folder_to_write
from .train.checkpoint import default_cache_dir


def cache_folder(cache: Path | None) -> Path:
    return folder_to_write(cache or default_cache_dir(), "checkpoint cache")


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s", stream=sys.stderr)
    for noisy in ("PIL", "matplotlib", "art"):  # ART logs every attack's success rate at INFO
        logging.getLogger(noisy).setLevel(logging.WARNING)


Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging on stderr: every training epoch "
                                                             "and each detector's result.")]
Cache = Annotated[Optional[Path], typer.Option(help="Checkpoint cache \\[default: $DFBENCH_CACHE or "
                                                    "~/.cache/dfbench/checkpoints].")]
Model = Annotated[Optional[list[str]], typer.Option(help="A detector from a Python file or module: "
                                                         "path/to/file.py:factory or package.module:factory.")]
Weights = Annotated[Optional[Path], typer.Option(help="Weights of the one --detector or --model (safetensors, "
                                                      "or a state dict read with weights_only=True).")]
