"""`landscape gate`: thresholds → the sharpness parts they need → decisions → exit code."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from landscape_cli.analyses import gate as g
from landscape_cli.analyses.sharpness import (
    METRICS,
    analyse_sharpness,
    optimizer_state_of,
    parts_for,
    unavailable_metrics,
)
from landscape_cli.cli import options as o
from landscape_cli.cli.app import app, emit, log, progress
from landscape_cli.cli.commands.sharpness import (
    AscentSteps,
    AvgRho,
    AvgSamples,
    EpsSharpness,
    Lr,
    MaxProducts,
    Rho,
    Tol,
    TraceSamples,
    sharpness_settings,
)
from landscape_cli.cli.session import open_session
from landscape_cli.errors import InputError
from landscape_cli.render.terminal.gate import draw_gate, print_gate

GateFile = Annotated[
    Path | None,
    typer.Option(
        "--gate",
        help="TOML file with the thresholds (its [gate] table); default: the [gate] "
        "table of --config.",
    ),
]
Baseline = Annotated[
    Path | None,
    typer.Option(
        "--baseline", help="A saved report (sharpness/gate --json) for max_increase thresholds."
    ),
]
AllowUndecided = Annotated[
    bool | None,
    typer.Option("--allow-undecided", help="Let thresholds within a metric's error bound pass."),
]
MaxItems = Annotated[
    list[str] | None,
    typer.Option(
        "--max", metavar="NAME=VALUE", help="The metric must stay below VALUE (repeatable)."
    ),
]
MinItems = Annotated[
    list[str] | None,
    typer.Option(
        "--min", metavar="NAME=VALUE", help="The metric must stay above VALUE (repeatable)."
    ),
]
Junit = Annotated[
    Path | None,
    typer.Option("--junit", help="Write a JUnit XML file, one test case per threshold."),
]

TAYLOR = "taylor_order"


@app.command()
def gate(
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
    tol: Tol = None,
    max_products: MaxProducts = None,
    trace_samples: TraceSamples = None,
    lr: Lr = None,
    rho: Rho = None,
    avg_rho: AvgRho = None,
    eps_sharpness: EpsSharpness = None,
    ascent_steps: AscentSteps = None,
    avg_samples: AvgSamples = None,
    gate: GateFile = None,
    baseline: Baseline = None,
    allow_undecided: AllowUndecided = None,
    max: MaxItems = None,
    min: MinItems = None,
    junit: Junit = None,
    json: o.Json = None,
    png: o.Png = None,
    out: o.Out = None,
    verbose: o.Verbose = None,
) -> None:
    """Fail CI when sharpness metrics cross thresholds (exit 0 pass, 1 violated, 2 bad input,
    3 numerical failure)."""
    start = time.perf_counter()
    cli = dict(locals())
    del cli["start"]
    session = open_session("gate", cli, log=log)
    opt, problem = session.options, session.problem
    thresholds = gather_thresholds(opt)
    settings = sharpness_settings(opt, cli, session.metadata, problem.num_params, k_top=1)
    optimizer = optimizer_state_of(session.metadata)
    check_computable(thresholds, unavailable_metrics(problem, settings, optimizer))
    names = {t.metric for t in thresholds}
    metrics, failures = gate_metrics(problem, opt, settings, optimizer, names)
    decisions = g.evaluate(thresholds, metrics, failures)
    result = g.make_report(
        decisions,
        {k: metrics[k] for k in sorted(names) if k in metrics},
        bool(opt["allow_undecided"]),
        _name(opt["baseline"]),
    )
    result.seconds = time.perf_counter() - start
    junit = {Path(opt["junit"]): g.junit_xml(result)} if opt["junit"] else {}
    emit(
        result,
        as_json=opt["json"],
        png=opt["png"],
        out=opt["out"],
        terminal=lambda console: print_gate(result, console),
        figures={"gate": lambda target: draw_gate(result, target)},
        extra=junit,
    )
    g.raise_for(result)


def gate_metrics(problem, opt: dict, settings, optimizer, names: set[str]):
    """The named metrics (only the analysis parts they need) and their numerical failures."""
    with progress("gate metrics") as tick:
        report = analyse_sharpness(
            problem,
            settings,
            parts=parts_for(names),
            optimizer=optimizer,
            strategy=opt["strategy"],
            progress=lambda _stage, n: tick(n),
        )
    metrics, failures = dict(report.metrics), solver_failures(report)
    if TAYLOR in names:
        metric, why = g.taylor_order_metric(problem, opt, opt["strategy"])
        if metric is not None:
            metrics[TAYLOR] = metric
        else:
            failures[TAYLOR] = why
    return metrics, failures


def gather_thresholds(opt: dict) -> list[g.Threshold]:
    """Thresholds from --gate FILE or the config's [gate] table, --max/--min and --baseline."""
    absolute, relative = [], []
    table, where = _gate_table(opt.get("gate"))
    if table is not None:
        absolute, relative = g.parse_table(table, where)
    absolute += g.parse_assignments(_items(opt.get("max")), "max")
    absolute += g.parse_assignments(_items(opt.get("min")), "min")
    baseline = g.load_baseline(opt["baseline"]) if opt.get("baseline") else None
    if baseline is not None and not relative:
        raise InputError(
            "--baseline was given but no threshold is relative to it",
            'add e.g. lambda_max = {max_increase = "10%"} to the [gate] table',
        )
    thresholds = absolute + g.resolve_relative(relative, baseline, _name(opt.get("baseline")))
    if not thresholds:
        raise InputError(
            "the gate has no thresholds",
            "pass --max lambda_max=50, or --config gate.toml with a [gate] table",
        )
    g.check_names(thresholds, [*METRICS, TAYLOR])
    return thresholds


def _gate_table(value) -> tuple[dict | None, str]:
    if value is None:
        return None, ""
    if isinstance(value, dict):
        return value, "the config's [gate] table"
    return g.read_gate_file(value), f"'{value}'"


def _items(value) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


def _name(path) -> str | None:
    return None if path is None else str(path)


def check_computable(thresholds: list[g.Threshold], unavailable: dict[str, str]) -> None:
    if TAYLOR in {t.metric for t in thresholds}:
        why = g.taylor_available()
        if why:
            unavailable = {**unavailable, TAYLOR: why}
    for t in thresholds:
        if t.metric in unavailable:
            raise InputError(
                f"a threshold needs {t.metric} but {unavailable[t.metric]}",
                f"remove the {t.metric} threshold or give what it needs",
            )


def solver_failures(report) -> dict[str, str]:
    """Metrics whose Lanczos solve did not converge (a numerical failure: exit code 3)."""
    fix = "raise --max-products or loosen --tol"
    out = {}
    checks = [("lambda_max", report.top[:1]), ("lambda_min", report.bottom[:1])]
    if report.adam is not None and report.adam.preconditioned is not None:
        pair = [report.adam.preconditioned]
        checks += [("preconditioned_sharpness", pair), ("adam_stability_margin", pair)]
    if report.top:
        checks.append(("stability_margin", report.top[:1]))
    for name, pairs in checks:
        if pairs and not pairs[0].converged:
            out[name] = (
                f"Lanczos did not converge (residual {pairs[0].error_bound:.2g} above "
                f"tol {report.settings.tol:g} × scale); {fix}"
            )
    return out
