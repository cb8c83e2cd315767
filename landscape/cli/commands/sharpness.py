"""`landscape sharpness`: session → settings → the library's call → emit."""

from __future__ import annotations

from dataclasses import replace

from landscape.cli.app import app
from landscape.cli.options import command
from landscape.cli.output import emit, log
from landscape.cli.progress import progress
from landscape.render.writers import Rendered, lazy


@command(
    app,
    "sharpness",
    examples=(
        "landscape sharpness",
        "landscape sharpness model.pt --data val.pt --lr 0.01",
        "landscape sharpness model.pt --json > baseline.json",
    ),
)
def sharpness(cli: dict) -> None:
    """λ_max, trace, stability against the learning rate, Adam's preconditioned sharpness,
    ε-sharpness, adaptive worst- and average-case sharpness, and 1D loss slices."""
    from landscape.analyses.sharpness import optimizer_state_of
    from landscape.api import calls
    from landscape.cli.fields import library_options, sharpness_settings
    from landscape.cli.session import open_session

    session = open_session("sharpness", cli, log=log)
    opt = session.options
    settings = sharpness_settings(opt, session.sources, session.problem.num_params)
    report = calls.sharpness(
        session.problem,
        optimizer=optimizer_state_of(session.metadata),
        progress=progress,
        **library_options("sharpness", opt),
    )
    if settings.lr is not None:  # where η came from: the flag, the config or the metadata
        source = settings.lr_source
        report = replace(report, settings=replace(report.settings, lr_source=source))
        if report.stability is not None:
            report = replace(report, stability=replace(report.stability, lr_source=source))
    report = replace(report, distributed=session.distributed())
    figures = {
        "spectrum": lazy("figures.sharpness:draw_spectrum"),
        "slices": lazy("figures.sharpness:draw_slices"),
    }
    emit(Rendered(report, lazy("terminal.sharpness:sharpness_view"), figures), opt)
