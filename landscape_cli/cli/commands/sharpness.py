"""`landscape sharpness`: parse, analyse, render."""

from __future__ import annotations

import math
from typing import Annotated

import typer

from landscape_cli.analyses.sharpness import (
    SharpnessSettings,
    analyse_sharpness,
    optimizer_state_of,
)
from landscape_cli.cli import options as o
from landscape_cli.cli.app import app, emit, log, progress, require_converged
from landscape_cli.cli.session import open_session
from landscape_cli.errors import InputError
from landscape_cli.render.figures.sharpness import draw_slices, draw_spectrum
from landscape_cli.render.terminal.sharpness import print_sharpness

# Options of `sharpness` and `gate` beyond the shared ones (defaults in options.DEFAULTS).
K = Annotated[int | None, typer.Option("--k", help="How many top eigenvalues.")]
Tol = Annotated[float | None, typer.Option(help="Lanczos: converged when ‖Hv−λv‖ ≤ tol·max|λ|.")]
MaxProducts = Annotated[int | None, typer.Option(help="Cap on each eigen-solve's products.")]
TraceSamples = Annotated[int | None, typer.Option(help="Products for the Hutch++ trace.")]
Lr = Annotated[
    float | None,
    typer.Option(
        "--lr",
        help="Learning rate η for the stability figures (default: the checkpoint's "
        "metadata, else its optimizer state).",
    ),
]
Rho = Annotated[
    float | None,
    typer.Option("--rho", help="Adaptive worst-case radius: |δ_i| ≤ ρ|θ_i| (default 0.001)."),
]
AvgRho = Annotated[
    float | None,
    typer.Option("--avg-rho", help="Adaptive average-case σ_i = ρ|θ_i| (default 0.1)."),
]
EpsSharpness = Annotated[
    float | None, typer.Option("--eps-sharpness", help="Keskar ε: box |δ_i| ≤ ε(|θ_i| + 1).")
]
AscentSteps = Annotated[
    int | None,
    typer.Option(
        "--ascent-steps", help="Projected gradient-ascent iterations for the worst cases."
    ),
]
AvgSamples = Annotated[
    int | None,
    typer.Option("--avg-samples", help="Gaussian perturbations (each at ±δ) for the average case."),
]
SlicePoints = Annotated[int | None, typer.Option(help="Points per 1D loss slice.")]
SliceRadius = Annotated[float | None, typer.Option(help="Slices run over t ∈ [−r, r].")]

DEFAULT_RHO, DEFAULT_AVG_RHO = 1e-3, 0.1  # Andriushchenko et al. 2023 (see analyses.sharpness)


@app.command()
def sharpness(
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
    k: K = None,
    tol: Tol = None,
    max_products: MaxProducts = None,
    trace_samples: TraceSamples = None,
    lr: Lr = None,
    rho: Rho = None,
    avg_rho: AvgRho = None,
    eps_sharpness: EpsSharpness = None,
    ascent_steps: AscentSteps = None,
    avg_samples: AvgSamples = None,
    slice_points: SlicePoints = None,
    slice_radius: SliceRadius = None,
    allow_unconverged: o.AllowUnconverged = None,
    json: o.Json = None,
    png: o.Png = None,
    out: o.Out = None,
    verbose: o.Verbose = None,
) -> None:
    """λ_max, trace, stability against the learning rate, Adam's preconditioned sharpness,
    ε-sharpness, adaptive worst- and average-case sharpness, and 1D loss slices."""
    cli = dict(locals())
    session = open_session("sharpness", cli, log=log)
    opt = session.options
    settings = sharpness_settings(opt, cli, session.metadata, session.problem.num_params)
    with progress("sharpness") as tick:
        report = analyse_sharpness(
            session.problem,
            settings,
            optimizer=optimizer_state_of(session.metadata),
            strategy=opt["strategy"],
            progress=lambda _stage, n: tick(n),
        )
    if report.solver is not None:
        pairs = report.top + report.bottom
        require_converged(pairs, opt["allow_unconverged"], report.solver.products)
    emit(
        report,
        as_json=opt["json"],
        png=opt["png"],
        out=opt["out"],
        terminal=lambda console: print_sharpness(report, console),
        figures={
            "spectrum": lambda target: draw_spectrum(report, target),
            "slices": lambda target: draw_slices(report, target),
        },
    )


def sharpness_settings(
    opt: dict, cli: dict, metadata: dict, num_params: int, k_top: int | None = None
) -> SharpnessSettings:
    """Checked settings from the resolved options (`k_top` overrides --k)."""
    k = int(opt["k"]) if k_top is None else k_top
    if not 1 <= k <= num_params:
        raise InputError(
            f"--k must be between 1 and the number of parameters ({num_params}), got {k}",
            "use e.g. --k 5",
        )
    lr, source = _learning_rate(opt, cli, metadata)
    return SharpnessSettings(
        k_top=k,
        k_bottom=1,
        tol=_positive(opt["tol"], "--tol", "1e-6"),
        max_products=_count(opt["max_products"], "--max-products", 1, "2000", optional=True),
        trace_samples=_count(opt["trace_samples"], "--trace-samples", 3, "60"),
        lr=lr,
        lr_source=source,
        eps_sharpness=_positive(opt["eps_sharpness"], "--eps-sharpness", "1e-3"),
        rho=_positive(_or(opt.get("rho"), DEFAULT_RHO), "--rho", "1e-3"),
        avg_rho=_positive(_or(opt.get("avg_rho"), DEFAULT_AVG_RHO), "--avg-rho", "0.1"),
        ascent_steps=_count(opt["ascent_steps"], "--ascent-steps", 1, "20"),
        avg_samples=_count(opt["avg_samples"], "--avg-samples", 2, "32"),
        slice_points=_count(opt["slice_points"], "--slice-points", 3, "41"),
        slice_radius=_positive(opt["slice_radius"], "--slice-radius", "1.0"),
        seed=int(opt["seed"]),
    )


def _learning_rate(opt: dict, cli: dict, metadata: dict) -> tuple[float | None, str]:
    value = opt.get("lr")
    if value is None:
        return None, ""
    if cli.get("lr") is not None:
        source = "--lr"
    elif metadata.get("lr") is not None and metadata.get("lr") == value:
        source = "checkpoint metadata"
    else:
        source = "config"
    return _positive(
        value, "--lr" if source != "checkpoint metadata" else "the checkpoint's lr", "1e-3"
    ), source


def _or(value, default):
    return default if value is None else value


def _positive(value, name: str, example: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}", f"use e.g. {example}") from None
    if not (math.isfinite(number) and number > 0):
        raise InputError(f"{name} must be positive and finite, got {value}", f"use e.g. {example}")
    return number


def _count(value, name: str, least: int, example: str, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise InputError(
            f"{name} must be an integer ≥ {least}, got {value!r}", f"use e.g. {name} {example}"
        )
    return value
