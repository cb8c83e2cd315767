"""The sharpness figures by the names the gate uses, what each means and which parts it needs."""

from __future__ import annotations

from landscape.analyses.sharpness.report import (
    AdamReport,
    AdaptiveSharpness,
    AverageSharpness,
    EpsSharpness,
    Metric,
    Stability,
)
from landscape.estimators.results import Eigenpair, TraceEstimate

STDERR_BOUND = 3.0  # stochastic figures carry ±3 standard errors as their error bound


# Which parts of the analysis each metric needs (the gate computes only those).
PARTS_OF: dict[str, tuple[str, ...]] = {
    "loss": (),
    "lambda_max": ("top",),
    "lambda_min": ("bottom",),
    "trace": ("trace",),
    "trace_per_param": ("trace",),
    "stability_margin": ("top",),
    "eps_sharpness": ("eps",),
    "adaptive_sharpness": ("adaptive",),
    "average_sharpness": ("average",),
    "preconditioned_sharpness": ("adam_eigen",),
    "adam_stability_margin": ("adam_eigen",),
    "adam_rank_correlation": ("adam_diag",),
    "adam_diag_scale": ("adam_diag",),
}
ALL_PARTS = frozenset(
    {"top", "bottom", "trace", "eps", "adaptive", "average", "adam_eigen", "adam_diag", "slices"}
)
ADAM_METRICS = (
    "preconditioned_sharpness",
    "adam_stability_margin",
    "adam_rank_correlation",
    "adam_diag_scale",
)


def parts_for(metrics) -> set[str]:
    """The analysis parts the named metrics need."""
    return {part for name in metrics for part in PARTS_OF.get(name, ())}


def collect_metrics(
    num_params: int,
    *,
    loss: float,
    top: list[Eigenpair],
    bottom: list[Eigenpair],
    trace: TraceEstimate | None,
    stability: Stability | None,
    adam: AdamReport | None,
    eps_sharpness: EpsSharpness | None,
    adaptive_sharpness: AdaptiveSharpness | None,
    average_sharpness: AverageSharpness | None,
) -> dict[str, Metric]:
    """The computed figures by the gate's names, each with its error bound where one exists."""
    m: dict[str, Metric] = {"loss": Metric(loss, None, "exact")}
    m.update(_curvature_metrics(num_params, top, bottom, trace, stability))
    m.update(_perturbation_metrics(eps_sharpness, adaptive_sharpness, average_sharpness))
    if adam is not None:
        m.update(_adam_metrics(adam))
    return m


def _curvature_metrics(num_params, top, bottom, trace, stability) -> dict[str, Metric]:
    m = {}
    if top:
        m["lambda_max"] = Metric(top[0].value, top[0].error_bound, _lanczos_note(top[0]))
    if bottom:
        low = bottom[0]
        m["lambda_min"] = Metric(low.value, low.error_bound, _lanczos_note(low))
    if trace is not None:
        bound = STDERR_BOUND * trace.stderr
        note = f"{trace.method}, {trace.products} products; ±3 stderr"
        m["trace"] = Metric(trace.value, bound, note)
        m["trace_per_param"] = Metric(trace.value / num_params, bound / num_params, note)
    if stability is not None:
        s = stability
        note = f"η·λ_max/{s.limit:.4g} ({s.method}), η = {s.lr:g}"
        m["stability_margin"] = Metric(s.margin, s.margin_bound, note)
    return m


def _perturbation_metrics(eps, adaptive, average) -> dict[str, Metric]:
    m = {}
    if eps is not None:
        note = _ascent_note(eps.ascent.evaluations, eps.ascent.kkt)
        m["eps_sharpness"] = Metric(eps.percent, None, note)
    if adaptive is not None:
        a = adaptive
        note = f"ρ = {a.rho:g}, m = {a.chunk_size}, ascent: a lower bound"
        m["adaptive_sharpness"] = Metric(a.value, None, note)
    if average is not None:
        a = average
        m["average_sharpness"] = Metric(
            a.value, STDERR_BOUND * a.stderr, f"ρ = {a.rho:g}, {a.samples} ± pairs; ±3 stderr"
        )
    return m


def _lanczos_note(pair: Eigenpair) -> str:
    return "Lanczos residual" + ("" if pair.converged else " (NOT converged)")


def _ascent_note(evaluations: int, kkt: bool) -> str:
    stop = "KKT point" if kkt else "not at a KKT point"
    return f"{evaluations} ascent evaluations ({stop}): a lower bound"


def _adam_metrics(a: AdamReport) -> dict[str, Metric]:
    m = {}
    if a.preconditioned is not None:
        pair = a.preconditioned
        kept = f"; {a.left_out.count} never-moved coordinates left out" if a.left_out else ""
        m["preconditioned_sharpness"] = Metric(
            pair.value, pair.error_bound, _lanczos_note(pair) + kept
        )
        m["adam_stability_margin"] = Metric(
            a.margin,
            pair.error_bound / a.threshold,
            f"of (2+2β₁)/((1−β₁)η) = {a.threshold:.6g}{kept}",
        )
    if a.fit is not None:
        f = a.fit
        how = "exact diag H" if f.exact else f"Diag++ diag H, {f.samples} products"
        m["adam_rank_correlation"] = Metric(f.rank_correlation, None, how)
        m["adam_diag_scale"] = Metric(f.scale, None, f"c·η = {f.newton_ratio:.3g}")
    return m
