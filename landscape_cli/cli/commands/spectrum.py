"""`landscape spectrum`: parse, analyse, render."""

from __future__ import annotations

from typing import Annotated

import typer

from landscape_cli.analyses.spectrum import SpectrumSettings, analyse_spectrum
from landscape_cli.cli import options as o
from landscape_cli.cli.app import app, emit, log, progress, require_converged
from landscape_cli.cli.session import open_session
from landscape_cli.curvature import make_operator
from landscape_cli.errors import InputError
from landscape_cli.render.terminal.spectrum import draw_spectrum, print_spectrum


@app.command()
def spectrum(
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
    curvature: Annotated[
        str | None, typer.Option(help="hessian | ggn | fisher | ef (empirical Fisher).")
    ] = None,
    k: Annotated[int | None, typer.Option("--k", help="How many top eigenvalues.")] = None,
    k_bottom: Annotated[
        int | None, typer.Option(help="How many bottom (most negative) eigenvalues (default: --k).")
    ] = None,
    tol: Annotated[float | None, typer.Option(help="Converged when ‖Av−λv‖ ≤ tol·max|λ|.")] = None,
    max_products: Annotated[
        int | None, typer.Option(help="Cap on the eigen-solver's products.")
    ] = None,
    mc_samples: Annotated[
        int | None,
        typer.Option(help="Monte-Carlo Fisher with S sampled labels per example (default: exact)."),
    ] = None,
    trace_samples: Annotated[
        int | None, typer.Option(help="Products for the Hutch++ trace.")
    ] = None,
    density: Annotated[
        bool | None,
        typer.Option("--density", help="Spectral density by stochastic Lanczos quadrature."),
    ] = None,
    density_starts: Annotated[int | None, typer.Option(help="SLQ random starts.")] = None,
    density_steps: Annotated[int | None, typer.Option(help="SLQ Lanczos steps.")] = None,
    per_layer: Annotated[
        bool | None,
        typer.Option("--per-layer", help="Top eigenvalue and trace of each parameter block."),
    ] = None,
    multiplicity_check: Annotated[
        bool | None,
        typer.Option(
            "--multiplicity-check",
            help="Lock the converged pairs and search again from a fresh vector, so repeated "
            "eigenvalues are listed as often as they occur (about twice the products).",
        ),
    ] = None,
    allow_unconverged: o.AllowUnconverged = None,
    json: o.Json = None,
    png: o.Png = None,
    out: o.Out = None,
    verbose: o.Verbose = None,
) -> None:
    """Top-k and bottom-k eigenvalues (certified), trace, condition and density."""
    session = open_session("spectrum", dict(locals()), log=log)
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
    with progress(f"{op.name} spectrum (products)") as tick:
        report = analyse_spectrum(session.problem, op, settings, progress=lambda _s, n: tick(n))
    require_converged(report.top + report.bottom, opt["allow_unconverged"], report.solver.products)
    emit(
        report,
        as_json=opt["json"],
        png=opt["png"],
        out=opt["out"],
        terminal=lambda console: print_spectrum(report, console),
        figures={"spectrum": lambda target: draw_spectrum(report, target)},
    )


def spectrum_settings(opt: dict, num_params: int) -> SpectrumSettings:
    k = int(opt["k"])
    k_bottom = k if opt["k_bottom"] is None else int(opt["k_bottom"])
    for name, value in (("--k", k), ("--k-bottom", k_bottom)):
        if value < 0:
            raise InputError(f"{name} must be ≥ 0, got {value}", f"use e.g. {name} 5")
        if value > num_params:
            raise InputError(
                f"{name} {value} is larger than the number of parameters ({num_params})",
                f"use {name} {num_params} or fewer",
            )
    return SpectrumSettings(
        k_top=k,
        k_bottom=k_bottom,
        tol=float(opt["tol"]),
        max_products=opt["max_products"],
        trace_samples=int(opt["trace_samples"]),
        density=bool(opt["density"]),
        density_starts=int(opt["density_starts"]),
        density_steps=int(opt["density_steps"]),
        per_layer=bool(opt["per_layer"]),
        multiplicity_check=bool(opt["multiplicity_check"]),
        seed=int(opt["seed"]),
    )
