"""`landscape ggn-gap`: session → settings → the library's call → emit."""

from __future__ import annotations

from dataclasses import replace

from landscape.cli.app import app
from landscape.cli.options import command
from landscape.cli.output import emit, log
from landscape.cli.progress import progress
from landscape.render.writers import Rendered, lazy


@command(
    app,
    "ggn-gap",
    examples=(
        "landscape ggn-gap",
        "landscape ggn-gap model.pt --data val.pt --model-factory mypkg:build --per-layer",
        "landscape ggn-gap small.pt --exact --json > gap.json",
    ),
)
def ggn_gap(cli: dict) -> None:
    """How far the GGN, the Fisher and the empirical Fisher are from the Hessian (H = G + T)."""
    from landscape.api import calls
    from landscape.cli.fields import library_options
    from landscape.cli.session import open_session

    session = open_session("ggn_gap", cli, log=log)
    opt = session.options
    options = library_options("ggn_gap", opt)
    report = calls.ggn_gap(session.problem, progress=progress, **options)
    report = replace(report, distributed=session.distributed())
    emit(
        Rendered(
            report,
            lazy("terminal.ggn_gap:ggn_gap_view"),
            {"ggn_gap": lazy("figures.ggn_gap:draw_ggn_gap")},
        ),
        opt,
    )
