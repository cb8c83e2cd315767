"""Command line: `landscape spectrum|ggn-gap|taylor-check|sharpness|gate|surface|interpolate|
track|params`."""

from __future__ import annotations

from typing import Annotated

import typer

from landscape import __version__
from landscape.cli.app import app, main
from landscape.cli.commands import (  # noqa: F401 (registers them)
    gate,
    ggn_gap,
    interpolate,
    params,
    sharpness,
    spectrum,
    surface,
    taylor_check,
    track,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"landscape {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def _default(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """With no command, `landscape` prints the spectrum of the bundled sample."""
    if ctx.invoked_subcommand is None:
        spectrum.spectrum({})


__all__ = ["app", "main"]
