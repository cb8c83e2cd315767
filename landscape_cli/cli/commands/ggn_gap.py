"""`landscape ggn-gap`: parse, analyse, render."""

from __future__ import annotations

from typing import Annotated

import typer

from landscape_cli.analyses.ggn_gap import GgnGapSettings, analyse_ggn_gap
from landscape_cli.cli import options as o
from landscape_cli.cli.app import app, emit, log, progress, require_converged
from landscape_cli.cli.session import open_session
from landscape_cli.errors import InputError
from landscape_cli.render.figures.ggn_gap import draw_ggn_gap
from landscape_cli.render.terminal.ggn_gap import print_ggn_gap

DEFAULT_MC_SAMPLES = (1, 4, 16, 64)


@app.command("ggn-gap")
def ggn_gap(
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
    k: Annotated[
        int | None, typer.Option("--k", help="How many top and bottom eigenvalues of H, G and T.")
    ] = None,
    tol: Annotated[
        float | None, typer.Option(help="Lanczos converged when ‖Av−λv‖ ≤ tol·max|λ|.")
    ] = None,
    max_products: Annotated[
        int | None, typer.Option(help="Cap on each eigen-solve's products.")
    ] = None,
    exact: Annotated[
        bool | None,
        typer.Option("--exact", help="Dense H, G, F and EF (models up to 4000 parameters)."),
    ] = None,
    probes: Annotated[
        int | None, typer.Option(help="Random probes for the Frobenius-norm estimates.")
    ] = None,
    random_directions: Annotated[
        int | None, typer.Option(help="Random unit directions among the named ones.")
    ] = None,
    mc_samples: Annotated[
        str | None,
        typer.Option(
            help="Labels sampled per example for the Monte-Carlo Fisher, comma-separated "
            "(default 1,4,16,64)."
        ),
    ] = None,
    per_layer: Annotated[
        bool | None, typer.Option("--per-layer", help="The gap of each parameter block.")
    ] = None,
    allow_unconverged: o.AllowUnconverged = None,
    json: o.Json = None,
    png: o.Png = None,
    out: o.Out = None,
    verbose: o.Verbose = None,
) -> None:
    """How far the GGN, the Fisher and the empirical Fisher are from the Hessian (H = G + T)."""
    session = open_session("ggn_gap", dict(locals()), log=log)
    opt = session.options
    settings = ggn_gap_settings(opt)
    with progress("ggn-gap (products)") as tick:
        report = analyse_ggn_gap(
            session.problem, settings, strategy=opt["strategy"], progress=lambda _stage, n: tick(n)
        )
    spectra = (report.hessian, report.ggn, report.t)
    pairs = [e for s in spectra for e in s.top + s.bottom]
    require_converged(pairs, opt["allow_unconverged"], sum(s.products for s in spectra))
    emit(
        report,
        as_json=opt["json"],
        png=opt["png"],
        out=opt["out"],
        terminal=lambda console: print_ggn_gap(report, console),
        figures={"ggn_gap": lambda target: draw_ggn_gap(report, target)},
    )


def ggn_gap_settings(opt: dict) -> GgnGapSettings:
    return GgnGapSettings(
        k=int(opt["k"]),
        tol=float(opt["tol"]),
        max_products=opt["max_products"],
        probes=int(opt["probes"]),
        random_directions=int(opt["random_directions"]),
        mc_samples=parse_mc_samples(opt["mc_samples"]),
        per_layer=bool(opt["per_layer"]),
        exact=bool(opt["exact"]),
        seed=int(opt["seed"]),
    )


def parse_mc_samples(value) -> tuple[int, ...]:
    """`1,4,16,64` (command line), an integer or a list of integers (config) → sample counts."""
    if value is None:
        return DEFAULT_MC_SAMPLES
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    try:
        counts = tuple(int(str(item).strip()) for item in items)
    except ValueError:
        counts = ()
    if not counts or any(c < 1 for c in counts):
        raise InputError(
            f"--mc-samples '{value}' is not a list of counts ≥ 1", "use e.g. --mc-samples 1,4,16,64"
        )
    return counts
