"""`landscape surface`: session → settings → the library's call → emit."""

from __future__ import annotations

from dataclasses import replace

from landscape.cli.app import app
from landscape.cli.options import command
from landscape.cli.output import emit, log
from landscape.cli.progress import progress
from landscape.render.writers import Rendered, lazy


@command(
    app,
    "surface",
    examples=(
        "landscape surface",
        "landscape surface model.pt --data val.pt --grid 31 --range=-0.5,0.5 --png surface.png",
        "landscape surface model.pt --directions hessian --range=-0.2,0.2 --log --out report/",
        "landscape surface model.pt --directions d1.pt,d2.pt --json > surface.json",
    ),
)
def surface(cli: dict) -> None:
    """The loss on a plane (or a line) through θ along two directions (random filter-normalised,
    Hessian eigenvectors or your own), with the quadratic model and its trust region."""
    from landscape.api import calls
    from landscape.cli.fields import library_options
    from landscape.cli.session import open_session

    session = open_session("surface", cli, log=log)
    opt = session.options
    report = calls.surface(session.problem, progress=progress, **library_options("surface", opt))
    report = replace(report, distributed=session.distributed())
    emit(
        Rendered(
            report,
            lazy("terminal.surface:surface_view"),
            {"surface": lazy("figures.surface:draw_surface")},
        ),
        opt,
    )
