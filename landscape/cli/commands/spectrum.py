"""`landscape spectrum`: parse, analyse, render."""

from __future__ import annotations

from dataclasses import replace

from landscape.cli.app import app, require_converged
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
    from landscape.analyses.spectrum import analyse_spectrum
    from landscape.api.settings import spectrum_settings
    from landscape.cli.session import open_session
    from landscape.curvature import make_operator

    session = open_session("spectrum", cli, log=log)
    opt = session.options
    settings = spectrum_settings(opt, session.problem.num_params)
    with progress("building products"):
        op = make_operator(
            opt["curvature"],
            session.problem,
            strategy=opt["strategy"],
            mc_samples=opt["mc_samples"],
            seed=opt["seed"],
        )
    start = op.calls  # the vectors the operator was applied to, as the solver's cap counts
    with progress(
        f"{op.name} spectrum",
        budget(session.problem, settings),
        count=lambda: op.calls - start,
        bound=True,
    ):
        report = analyse_spectrum(session.problem, op, settings)
    report = replace(report, distributed=session.distributed())
    require_converged(report.top + report.bottom, opt["allow_unconverged"], report.solver.products)
    emit(
        Rendered(
            report,
            lazy("terminal.spectrum:spectrum_view"),
            {"spectrum": lazy("figures.spectrum:draw_spectrum")},
        ),
        opt,
    )


def budget(problem, settings) -> int:
    """The most products the spectrum may take (`product_bound`: the solver's own default cap,
    its re-solve, the trace, the density and the layers, each only when asked for). The solver
    usually stops far sooner, so the progress says "at most"."""
    from landscape.analyses.spectrum import product_bound

    return product_bound(problem, settings)
