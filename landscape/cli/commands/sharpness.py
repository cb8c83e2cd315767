"""`landscape sharpness`: parse, analyse, render."""

from __future__ import annotations

from dataclasses import replace

from landscape.cli.app import app, require_converged
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
    from landscape.analyses.sharpness import analyse_sharpness, optimizer_state_of
    from landscape.cli.fields import sharpness_settings
    from landscape.cli.session import open_session

    session = open_session("sharpness", cli, log=log)
    opt = session.options
    settings = sharpness_settings(opt, session.sources, session.problem.num_params)
    with progress("sharpness", unit="") as tick:
        report = analyse_sharpness(
            session.problem,
            settings,
            optimizer=optimizer_state_of(session.metadata),
            strategy=opt["strategy"],
            progress=lambda stage, n: tick(n, stage),
        )
    report = replace(report, distributed=session.distributed())
    if report.solver is not None:
        pairs = report.top + report.bottom
        require_converged(pairs, opt["allow_unconverged"], report.solver.products)
    figures = {
        "spectrum": lazy("figures.sharpness:draw_spectrum"),
        "slices": lazy("figures.sharpness:draw_slices"),
    }
    emit(Rendered(report, lazy("terminal.sharpness:sharpness_view"), figures), opt)
