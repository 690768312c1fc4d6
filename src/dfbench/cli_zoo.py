"""`dfbench zoo`: the public detectors dfbench loads from their own checkpoints, and what a file is."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .boundary import user_errors

zoo_app = typer.Typer(no_args_is_help=False, invoke_without_command=True,
                      help="The public detectors dfbench loads from their own checkpoints, and what a file is.")


@zoo_app.callback()
@user_errors
def zoo(ctx: typer.Context) -> None:
    """List the zoo: each layout's project, input, output and released files."""
    if ctx.invoked_subcommand is not None:
        return
    from .detectors.public import LAYOUTS

    for lay in sorted(LAYOUTS.values(), key=lambda lay: lay.name):
        files = ", ".join(r.file for r in lay.releases) or "see its docstring"
        typer.echo(f"{lay.name:30} {lay.project}; {lay.input_size} px; {lay.head.value}, fake = {lay.fake_index}; "
                   f"files: {files}")
    typer.echo("\nAlso: any Hugging Face image classifier folder (hf:path/to/dir). `dfbench zoo identify FILE` "
               "names a checkpoint's layout; `dfbench run --grid public --weights-dir DIR` runs every one found.")


@zoo_app.command("identify")
@user_errors
def zoo_identify(
    paths: Annotated[list[Path], typer.Argument(help="Checkpoint files or Hugging Face folders.")],
) -> None:
    """Say which zoo layout each checkpoint has, from its keys and shapes alone (nothing is unpickled)."""
    from .detectors.public.zoo import identify

    unknown = 0
    for path in paths:
        layouts, line = identify(path)
        unknown += not layouts and not path.is_dir()
        typer.echo(f"{path}: {line}")
    if unknown:
        raise typer.Exit(1)
