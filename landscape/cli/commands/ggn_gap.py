"""`landscape ggn-gap`: parse, analyse, render."""

from __future__ import annotations

from dataclasses import replace

from landscape.cli.app import app, require_converged
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
    from landscape.analyses.ggn_gap import analyse_ggn_gap
    from landscape.api.settings import ggn_gap_settings
    from landscape.cli.session import open_session

    session = open_session("ggn_gap", cli, log=log)
    opt = session.options
    settings = ggn_gap_settings(opt)
    with progress("ggn-gap") as tick:
        report = analyse_ggn_gap(
            session.problem, settings, strategy=opt["strategy"], progress=lambda s, n: tick(n, s)
        )
    report = replace(report, distributed=session.distributed())
    spectra = (report.hessian, report.ggn, report.t)
    pairs = [e for s in spectra for e in s.top + s.bottom]
    require_converged(pairs, opt["allow_unconverged"], sum(s.products for s in spectra))
    emit(
        Rendered(
            report,
            lazy("terminal.ggn_gap:ggn_gap_view"),
            {"ggn_gap": lazy("figures.ggn_gap:draw_ggn_gap")},
        ),
        opt,
    )
