"""`landscape gate`: thresholds → the sharpness parts they need → decisions → exit code."""

from __future__ import annotations

import time

from landscape.analyses.metric_names import METRICS, TAYLOR
from landscape.cli.app import app
from landscape.cli.options import command
from landscape.cli.output import emit, log
from landscape.cli.progress import progress
from landscape.render.writers import Rendered, lazy


@command(
    app,
    "gate",
    metrics=[*METRICS, TAYLOR],
    examples=(
        "landscape gate model.pt --max lambda_max=50 --min lambda_min=-1",
        "landscape gate model.pt --config gate.toml --junit reports/gate.xml",
        "landscape gate new.pt --config gate.toml --baseline baseline.json",
    ),
)
def gate(cli: dict) -> None:
    """Fail CI when sharpness metrics cross thresholds (exit 0 pass, 1 violated, 2 bad input,
    3 numerical failure)."""
    from landscape.analyses import gate as g
    from landscape.analyses.sharpness import (
        analyse_sharpness,
        optimizer_state_of,
        parts_for,
        unavailable_metrics,
    )
    from landscape.cli.fields import sharpness_settings
    from landscape.cli.session import open_session
    from landscape.cli.thresholds import gather_thresholds

    start = time.perf_counter()
    session = open_session("gate", cli, log=log, sample=False)
    opt, problem = session.options, session.problem
    thresholds = gather_thresholds(opt, [*METRICS, TAYLOR])
    settings = sharpness_settings(opt, session.sources, problem.num_params, k_top=1)
    optimizer = optimizer_state_of(session.metadata)
    g.check_computable(thresholds, unavailable_metrics(problem, settings, optimizer))
    names = {t.metric for t in thresholds}
    with progress("gate metrics", unit="") as tick:
        report = analyse_sharpness(
            problem,
            settings,
            parts=parts_for(names),
            optimizer=optimizer,
            strategy=opt["strategy"],
            progress=lambda stage, n: tick(n, stage),
        )
    metrics, failures = dict(report.metrics), g.solver_failures(report)
    if TAYLOR in names:
        _taylor_order(session, metrics, failures)
    result = g.make_report(
        g.evaluate(thresholds, metrics, failures),
        {k: metrics[k] for k in sorted(names) if k in metrics},
        bool(opt["allow_undecided"]),
        None if opt["baseline"] is None else str(opt["baseline"]),
        seconds=time.perf_counter() - start,
        checkpoint=str(session.model_path),
        distributed=session.distributed(),
    )
    emit(
        Rendered(
            result,
            lazy("terminal.gate:gate_view"),
            {"gate": lazy("figures.gate:draw_gate")},
            junit=lazy("junit:junit_xml"),
        ),
        opt,
    )
    g.raise_for(result)


def _taylor_order(session, metrics: dict, failures: dict) -> None:
    """taylor_order from the taylor-check analysis with the resolved options."""
    from landscape.analyses import gate as g
    from landscape.analyses.taylor import analyse_taylor
    from landscape.api.settings import taylor_settings
    from landscape.cli.fields import library_options
    from landscape.curvature import GGNOperator, HessianOperator

    problem, strategy = session.problem, session.options["strategy"]
    settings = taylor_settings(library_options("taylor_check", session.options), problem)
    report = analyse_taylor(
        problem, HessianOperator(problem, strategy), GGNOperator(problem, strategy), settings
    )
    metric, why = g.taylor_order_of(report.directions)
    if metric is not None:
        metrics[TAYLOR] = metric
    else:
        failures[TAYLOR] = why
