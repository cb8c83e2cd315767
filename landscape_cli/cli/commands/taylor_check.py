"""`landscape taylor-check`: parse, analyse, render; exit 1 when an order fails."""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
import typer

from landscape_cli.analyses.taylor import (
    DIRECTIONS,
    TaylorReport,
    TaylorSettings,
    analyse_taylor,
    halving_steps,
    load_direction,
    parse_sweep,
)
from landscape_cli.cli import options as o
from landscape_cli.cli.app import app, emit, log, progress
from landscape_cli.cli.session import open_session
from landscape_cli.curvature import make_operator
from landscape_cli.errors import InputError, LandscapeError
from landscape_cli.render.figures.taylor import draw_taylor
from landscape_cli.render.terminal.taylor import print_taylor


class TaylorCheckFailed(LandscapeError):
    """An order failed, or could not be observed (round-off floor, kinks): exit code 1.
    Raised after the report is out; main() prints the message on stderr."""

    exit_code = 1


@app.command("taylor-check")
def taylor_check(
    model: o.Model = None,
    data: o.Data = None,
    model_factory: o.ModelFactory = None,
    factory_kwargs: o.FactoryKwargs = None,
    loss: o.Loss = None,
    config: o.ConfigFile = None,
    samples: o.Samples = None,
    batch_size: o.BatchSize = None,
    dtype: o.Dtype = None,
    device: o.Device = None,
    seed: o.Seed = None,
    params: o.Params = None,
    trust_checkpoint: o.Trust = None,
    strategy: o.Strategy = None,
    eps: Annotated[
        float | None,
        typer.Option("--eps", help="Largest step η (default 1e-3); --steps halvings follow it."),
    ] = None,
    steps: Annotated[
        int | None,
        typer.Option(
            "--steps", help="How many times η is halved after --eps (default 12; 0: one step)."
        ),
    ] = None,
    sweep: Annotated[
        str | None,
        typer.Option("--sweep", help="MIN:MAX:N log-spaced steps instead, e.g. 1e-6:1e-1:13."),
    ] = None,
    direction: Annotated[
        str | None,
        typer.Option(
            "--direction",
            help="gradient | top-eigenvector | bottom-eigenvector | random | all, or a list: a,b.",
        ),
    ] = None,
    direction_file: Annotated[
        Path | None,
        typer.Option(
            "--direction-file", help="Your own direction: a flat vector of length p (.pt or .npy)."
        ),
    ] = None,
    json: o.Json = None,
    png: o.Png = None,
    out: o.Out = None,
    verbose: o.Verbose = None,
) -> None:
    """Taylor test: residuals of the 1st/2nd-order predictions against the step size."""
    cli = dict(locals())
    session = open_session("taylor_check", cli, log=log)
    opt, problem = session.options, session.problem
    settings = taylor_settings(opt, problem, direction_given=cli["direction"] is not None)
    with progress("building products"):
        hessian = make_operator("hessian", problem, strategy=opt["strategy"])
        ggn = make_operator("ggn", problem, strategy=opt["strategy"])
    with progress("directions") as tick:
        report = analyse_taylor(problem, hessian, ggn, settings, progress=lambda _s, n: tick(n))
    emit(
        report,
        as_json=opt["json"],
        png=opt["png"],
        out=opt["out"],
        terminal=lambda console: print_taylor(report, console),
        figures={"taylor": lambda target: draw_taylor(report, target)},
    )
    if not report.passed:
        raise TaylorCheckFailed(failure_message(report))


def taylor_settings(opt: dict, problem, direction_given: bool) -> TaylorSettings:
    if opt["sweep"]:
        etas = parse_sweep(opt["sweep"])
    else:
        etas = halving_steps(float(opt["eps"]), int(opt["steps"]))
    vector = None
    if opt["direction_file"]:
        path = Path(opt["direction_file"])
        vector = load_direction(
            read_vector(path), problem.num_params, problem.dtype, problem.device, path.name
        )
    wanted = [w.strip() for w in str(opt["direction"]).split(",") if w.strip()]
    unknown = [w for w in wanted if w not in (*DIRECTIONS, "all")]
    if unknown or not wanted:
        raise InputError(
            f"unknown --direction '{opt['direction']}'",
            f"use all, or one or more (comma-separated) of: {', '.join(DIRECTIONS)}",
        )
    if vector is not None and not direction_given and wanted == ["all"]:
        names = []  # only the file's direction unless --direction asks for more
    else:
        names = list(DIRECTIONS) if "all" in wanted else list(dict.fromkeys(wanted))
    label = Path(opt["direction_file"]).name if vector is not None else "file"
    return TaylorSettings(
        etas=etas,
        directions=names,
        direction_vector=vector,
        direction_label=label,
        seed=int(opt["seed"]),
    )


def read_vector(path: Path):
    """The array stored in a .pt (tensor, array or list) or .npy file."""
    if not path.is_file():
        raise InputError(f"direction file '{path}' not found", "check the --direction-file path")
    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if path.suffix in (".pt", ".pth"):
            value = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(value, list | tuple):
                value = torch.as_tensor(value)
            if not isinstance(value, torch.Tensor | np.ndarray):
                raise InputError(
                    f"{path.name} holds a {type(value).__name__}, not a vector",
                    "save the direction with torch.save(flat_tensor, path)",
                )
            return value
    except InputError:
        raise
    except pickle.UnpicklingError as exc:  # a pickled object: never unpickled here
        names = ", ".join(dict.fromkeys(re.findall(r"GLOBAL ([\w.]+)", str(exc)))) or "objects"
        raise InputError(
            f"cannot read {path.name}: it holds pickled {names} that a safe load refuses",
            "save the direction with torch.save(flat_tensor, path) or numpy.save",
        ) from None
    except Exception as exc:  # a corrupt or foreign file, reduced to one line
        text = str(exc).strip()
        first = text.splitlines()[0].rstrip(".") if text else type(exc).__name__
        raise InputError(
            f"cannot read {path.name}: {first}", "give a .pt or .npy file holding one flat vector"
        ) from None
    raise InputError(
        f"direction file '{path.name}' is neither .pt nor .npy",
        "save the direction with numpy.save or torch.save",
    )


def failure_message(report: TaylorReport) -> str:
    lines = []
    for d in report.directions:
        if d.status in ("failed", "inconclusive"):
            what = "FAILED" if d.status == "failed" else "INCONCLUSIVE (not a derivative failure)"
            lines.append(f"taylor-check {what} along '{d.name}': {d.reason}")
    return "\n".join(lines)
