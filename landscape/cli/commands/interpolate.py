"""`landscape interpolate`: two checkpoints, one segment; session → settings → the library's
call → emit."""

from __future__ import annotations

from dataclasses import replace

from landscape.cli.app import app
from landscape.cli.options import command
from landscape.cli.output import emit, log
from landscape.cli.progress import progress
from landscape.errors import InputError
from landscape.render.writers import Rendered, lazy


@command(
    app,
    "interpolate",
    examples=(
        "landscape interpolate a.pt b.pt --data val.pt --model-factory mypkg:build",
        "landscape interpolate a.pt b.pt --range=-0.5,1.5 --steps 41 --png segment.png",
        "landscape interpolate a.pt b.pt --reset-bn --json > segment.json",
    ),
)
def interpolate(cli: dict) -> None:
    """The loss (and accuracy) on the segment (1 − α)·θ_A + α·θ_B between two checkpoints:
    the barrier and each end's second-order Taylor model."""
    from landscape.api import calls
    from landscape.api.settings import interpolation_settings
    from landscape.cli.fields import library_options
    from landscape.cli.session import open_model, open_session

    session = open_session("interpolate", cli, log=log)
    opt = session.options
    if opt["model_b"] is None:
        raise InputError(
            "`landscape interpolate` needs two checkpoints, and one was given",
            "pass both: landscape interpolate a.pt b.pt ...",
        )
    options = library_options("interpolate", opt)
    interpolation_settings(options)  # a wrong option is said before B is loaded
    _, _, checkpoint_b, _, _ = open_model("interpolate", second_checkpoint(cli, session))
    report = calls.interpolate(
        session.problem,
        model_b=checkpoint_b.model,
        names=(str(session.model_path), str(opt["model_b"])),
        progress=progress,
        **options,
    )
    report = replace(report, distributed=session.distributed())
    emit(
        Rendered(
            report,
            lazy("terminal.surface:interpolate_view"),
            {"interpolate": lazy("figures.surface:draw_interpolation")},
        ),
        opt,
    )


def second_checkpoint(cli: dict, session) -> dict:
    """B's options: A's, with B as the model; B is built by A's factory (the one given, or
    the one A's metadata named and that already ran for A) unless given one of its own."""
    opt, meta = session.options, session.metadata
    factory = opt["model_factory"] or meta.get("factory")
    kwargs = opt["factory_kwargs"] if opt["model_factory"] else meta.get("factory_kwargs")
    out = {**cli, "model": opt["model_b"]}
    if cli.get("model_factory") is None and isinstance(factory, str):
        out["model_factory"] = factory
        out["factory_kwargs"] = kwargs if isinstance(kwargs, dict) else cli.get("factory_kwargs")
    return out
