"""Command line: `landscape spectrum|ggn-gap|taylor-check|sharpness|gate`."""

from __future__ import annotations

import importlib

import typer

from .app import app, main

COMMAND_MODULES = ("spectrum", "ggn_gap", "taylor_check", "sharpness", "gate")

for _name in COMMAND_MODULES:
    try:
        importlib.import_module(f".commands.{_name}", __package__)
    except ModuleNotFoundError as _exc:  # a command still being written
        if _exc.name != f"{__package__}.commands.{_name}":
            raise


@app.callback(invoke_without_command=True)
def _default(ctx: typer.Context) -> None:
    """With no command, `landscape` prints the spectrum of the bundled sample."""
    if ctx.invoked_subcommand is None:
        from .commands.spectrum import spectrum

        ctx.invoke(spectrum)


__all__ = ["app", "main"]
