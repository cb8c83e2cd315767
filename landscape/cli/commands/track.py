"""`landscape track`: session → settings → the library's call → emit, then exit code 3 when
a checkpoint failed (its row says why; the others were computed)."""

from __future__ import annotations

from pathlib import Path

from landscape.cli.app import app
from landscape.cli.options import command
from landscape.cli.output import emit, log
from landscape.render.writers import Rendered, lazy


@command(
    app,
    "track",
    examples=(
        "landscape track 'run/ckpt_*.pt' --data train.pt --model-factory mypkg.models:build",
        "landscape track run/ --data train.pt --model-factory m.py:build --png track.png",
        "landscape track run/ --data d.pt --model-factory m.py:build --metrics lambda_max,adam",
    ),
)
def track(cli: dict) -> None:
    """Certified λ_max (and λ_min) over a training run's checkpoints, with 2/η and a proxy."""
    from landscape.api import calls
    from landscape.cli.fields import library_options
    from landscape.cli.session import open_session
    from landscape.errors import NumericalError

    session = open_session("track", cli, log=log, sample=False, model_of=_first)
    opt = session.options
    if session.sources.get("lr") == "metadata":
        opt["lr"] = None  # the first checkpoint's: each row reads its own optimizer state
    live = None if opt.get("json") else _say_row
    report = calls.track(
        session.problem, checkpoints=opt["checkpoints"], on_row=live,
        trust_checkpoint=bool(opt["trust_checkpoint"]), **library_options("track", opt),
    )  # fmt: skip
    log(_order_line(report))
    emit(
        Rendered(
            report,
            lazy("terminal.track:track_view"),
            {"track": lazy("figures.track:draw_track")},
            csv=lazy("rows:track_csv"),
        ),
        opt,
    )
    if report.failed:
        first = report.failed[0]
        raise NumericalError(
            f"{len(report.failed)} of {len(report.checkpoints)} checkpoints failed, the first "
            f"'{first.path}': {first.error}",
            "see its row; the other checkpoints were computed",
        )


def _first(options: dict) -> Path:
    """The checkpoints named (files, folders, globs) as files; the first builds the model."""
    from landscape.analyses.track import expand
    from landscape.errors import InputError

    named = options.get("checkpoints") or []
    if not named:
        raise InputError(
            "`landscape track` needs checkpoints, and none were given",
            "pass them: landscape track 'run/ckpt_*.pt' --data D --model-factory F",
        )
    options["checkpoints"] = [str(p) for p in expand([str(n) for n in named])]
    return Path(options["checkpoints"][0])


def _say_row(row) -> None:
    name = Path(row.path).name
    if row.error is not None:
        log(f"{name}: failed: {row.error}")
    elif row.top:
        e = row.top[0]
        log(f"{name}: λ_max = {e.value:.6g} ± {e.error_bound:.2g} ({row.products} products)")


def _order_line(report) -> str:
    names = ", ".join(Path(r.path).name for r in report.checkpoints)
    if report.order == "file name":
        return f"no checkpoint records a step: ordered by file name: {names}"
    return f"order used ({report.order}): {names}"
