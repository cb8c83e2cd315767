"""`landscape taylor-check`: parse, analyse, render; exit 1 when an order fails."""

from __future__ import annotations

from dataclasses import replace

from landscape_cli.cli.app import app, emit, log, progress
from landscape_cli.cli.options import command
from landscape_cli.errors import LandscapeError
from landscape_cli.render.writers import Rendered, lazy


class TaylorCheckFailed(LandscapeError):
    """An order failed, or could not be observed (round-off floor, kinks): exit code 1.
    Raised after the report is out; main() prints the message on stderr."""

    exit_code = 1


@command(
    app,
    "taylor-check",
    examples=(
        "landscape taylor-check",
        "landscape taylor-check model.pt --data val.pt --direction gradient,random",
        "landscape taylor-check model.pt --sweep 1e-6:1e-1:13 --png taylor.png",
    ),
)
def taylor_check(cli: dict) -> None:
    """Taylor test: residuals of the 1st/2nd-order predictions against the step size."""
    from landscape_cli.analyses.taylor import analyse_taylor
    from landscape_cli.cli.session import open_session
    from landscape_cli.cli.settings import taylor_settings
    from landscape_cli.curvature import make_operator

    session = open_session("taylor_check", cli, log=log)
    opt, problem = session.options, session.problem
    settings = taylor_settings(opt, problem, direction_given=cli["direction"] is not None)
    with progress("building products"):
        hessian = make_operator("hessian", problem, strategy=opt["strategy"])
        ggn = make_operator("ggn", problem, strategy=opt["strategy"])
    with progress("directions") as tick:
        report = analyse_taylor(problem, hessian, ggn, settings, progress=lambda _s, n: tick(n))
    report = replace(report, distributed=session.distributed())
    emit(
        Rendered(
            report,
            lazy("terminal.taylor:taylor_view"),
            {"taylor": lazy("figures.taylor:draw_taylor")},
        ),
        opt,
    )
    if not report.passed:
        raise TaylorCheckFailed(failure_message(report))


def failure_message(report) -> str:
    """The stderr lines for the directions that failed or stayed inconclusive."""
    lines = []
    for d in report.directions:
        if d.status in ("failed", "inconclusive"):
            what = "FAILED" if d.status == "failed" else "INCONCLUSIVE (not a derivative failure)"
            lines.append(f"taylor-check {what} along '{d.name}': {d.reason}")
    return "\n".join(lines)
