"""The typer application, its error handling and the one way every command writes output."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from .errors import LandscapeError
from .report import dumps, write_atomic

app = typer.Typer(
    name="landscape",
    help="Certified loss-landscape analysis for PyTorch models: Hessian/GGN/Fisher spectra, "
    "GGN gap, Taylor checks, sharpness and CI gates.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
err = Console(stderr=True, highlight=False)
INTERNAL_ERROR = 70


def main() -> None:
    """Console entry point: one line and an exit code for every expected failure."""
    try:
        code = app(standalone_mode=False)  # click returns, not raises, typer.Exit's code here
    except LandscapeError as exc:
        err.print(f"[bold red]error:[/] {escape(exc.line())}", markup=True, soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # click usage errors and anything unexpected
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(130)
        if os.environ.get("LANDSCAPE_DEBUG"):
            raise
        err.print(
            f"internal error: {type(exc).__name__}: {exc} "
            "(set LANDSCAPE_DEBUG=1 for the traceback)",
            markup=False,
            soft_wrap=True,
        )
        sys.exit(INTERNAL_ERROR)
    if isinstance(code, int) and code:
        sys.exit(code)


def log(message: str) -> None:
    err.print(message, markup=False, soft_wrap=True)


@contextmanager
def progress(description: str, total: int | None = None):
    """A progress bar on stderr; yields a callback taking the count done so far."""
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    with bar:
        task = bar.add_task(description, total=total)
        yield lambda done: bar.update(task, completed=done)


def figure_bytes(draw: Callable[[Path | io.BytesIO], None]) -> bytes:
    buffer = io.BytesIO()
    draw(buffer)
    return buffer.getvalue()


def emit(
    report,
    *,
    as_json: bool,
    png: Path | None,
    out: Path | None,
    terminal: Callable[[Console], None],
    figures: dict[str, Callable] | None = None,
) -> None:
    """Print the report (terminal or JSON) and write the requested files, all or none.

    `figures` maps a file stem to a function drawing the figure into a file-like object;
    the first one is the figure `--png` writes.
    """
    figures = figures or {}
    files: dict[Path, bytes] = {}
    if png is not None and figures:
        files[Path(png)] = figure_bytes(next(iter(figures.values())))
    if out is not None:
        files[Path(out) / "report.json"] = (dumps(report) + "\n").encode()
        for stem, draw in figures.items():
            files[Path(out) / f"{stem}.png"] = figure_bytes(draw)
    for path, data in files.items():
        write_atomic(path, data)
    if as_json:
        sys.stdout.write(dumps(report) + "\n")
        sys.stdout.flush()
    else:
        terminal(Console(highlight=False))
        for path in files:
            log(f"wrote {path}")
