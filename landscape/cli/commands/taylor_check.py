"""`landscape taylor-check`: session → settings → the library's call → emit; exit 1 when a
derivative is wrong."""

from __future__ import annotations

from dataclasses import replace

from landscape.cli.app import app
from landscape.cli.options import command
from landscape.cli.output import emit, log
from landscape.cli.progress import progress
from landscape.errors import LandscapeError
from landscape.render.writers import Rendered, lazy


class TaylorCheckFailed(LandscapeError):
    """An order failed: a derivative is wrong (exit code 1, and only then). Raised after the
    report is out; main() prints the message on stderr."""

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
    from landscape.api import calls
    from landscape.cli.fields import library_options
    from landscape.cli.session import open_session

    session = open_session("taylor_check", cli, log=log)
    opt = session.options
    options = library_options("taylor_check", opt)
    report = calls.taylor_check(session.problem, progress=progress, **options)
    report = replace(report, distributed=session.distributed())
    emit(
        Rendered(
            report,
            lazy("terminal.taylor:taylor_view"),
            {"taylor": lazy("figures.taylor:draw_taylor")},
        ),
        opt,
    )
    for d in report.directions:
        if d.status in ("inconclusive", "kinks"):
            log(f"note: taylor-check {d.status} along '{d.name}' (not a derivative failure)")
    if report.verdict == "failed":
        failed = [d for d in report.directions if d.status == "failed"]
        for d in failed if len(failed) > 1 else []:
            log(f"taylor-check FAILED along '{d.name}': {d.reason}")
        raise TaylorCheckFailed(failure_message(failed))


def failure_message(failed) -> str:
    """The error line: the failed direction and why, or, when several failed (each has a
    stderr line of its own before it), their names."""
    if len(failed) == 1:
        return f"taylor-check FAILED along '{failed[0].name}': {failed[0].reason}"
    names = ", ".join(f"'{d.name}'" for d in failed)
    return f"taylor-check FAILED along {names}: a derivative is wrong (why: the lines above)"
