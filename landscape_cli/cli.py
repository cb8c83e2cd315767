"""Command line: `landscape spectrum|ggn-gap|taylor-check|sharpness|gate`."""

from __future__ import annotations

import typer

from .app import app, main
from .commands import gate, ggn_gap, sharpness, spectrum, taylor_check  # noqa: F401 (register)


@app.callback(invoke_without_command=True)
def _default(ctx: typer.Context) -> None:
    """With no command, `landscape` prints the spectrum of the bundled sample."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(spectrum.spectrum)


__all__ = ["app", "main"]
