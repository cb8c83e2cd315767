"""`landscape spectrum`: session → settings → the library's call → emit."""

from __future__ import annotations

from dataclasses import replace

from landscape.cli.app import app
from landscape.cli.options import command
from landscape.cli.output import emit, log
from landscape.cli.progress import progress
from landscape.render.writers import Rendered, lazy


@command(
    app,
    "spectrum",
    examples=(
        "landscape spectrum",
        "landscape spectrum model.pt --data val.pt --model-factory mypkg.models:build --k 10",
        "landscape spectrum model.pt --curvature ggn --density --out report/",
    ),
)
def spectrum(cli: dict) -> None:
    """Top-k and bottom-k eigenvalues (certified), trace, condition and density."""
    from landscape.api import calls
    from landscape.cli.fields import library_options
    from landscape.cli.session import open_session

    session = open_session("spectrum", cli, log=log)
    opt = session.options
    options = library_options("spectrum", opt)
    report = calls.spectrum(session.problem, progress=progress, **options)
    report = replace(report, distributed=session.distributed())
    emit(
        Rendered(
            report,
            lazy("terminal.spectrum:spectrum_view"),
            {"spectrum": lazy("figures.spectrum:draw_spectrum")},
        ),
        opt,
    )
