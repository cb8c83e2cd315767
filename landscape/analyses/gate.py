"""`landscape gate`: thresholds on reported metrics, decided with their error bounds.

A threshold is `max` (the metric must stay below) or `min` (above). With a value v and an
error bound b (0 when the metric has none):
- max T: pass when v + b < T, fail when v − b > T, otherwise undecided;
- min T: pass when v − b > T, fail when v + b < T, otherwise undecided.
An undecided threshold fails the gate unless undecided results are allowed. A metric that is
NaN or whose eigen-solver did not converge is an error (exit code 3).

Thresholds are read by `cli.thresholds` (a `[gate]` table, `--max`/`--min`, limits relative to a
saved report); this module decides them, and says which metrics a failed solve leaves undecided.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from landscape.analyses.metric_names import TAYLOR_NOTE
from landscape.analyses.sharpness import Metric
from landscape.errors import InputError, LandscapeError, NumericalError

EXIT_PASS, EXIT_VIOLATED, EXIT_INPUT, EXIT_NUMERICAL = 0, 1, 2, 3


@dataclass(frozen=True)
class Threshold:
    metric: str
    kind: str  # "max" | "min"
    limit: float
    source: str  # where it came from, in words


@dataclass(frozen=True)
class Relative:
    metric: str
    kind: str  # "max_increase" | "max_decrease"
    amount: float
    percent: bool
    source: str


@dataclass(frozen=True)
class Decision:
    metric: str
    kind: str
    limit: float
    value: float | None
    error_bound: float | None
    verdict: str  # "pass" | "fail" | "undecided" | "error"
    reason: str
    source: str


@dataclass(frozen=True, kw_only=True)
class GateReport:
    command: str = "gate"
    passed: bool
    exit_code: int
    allow_undecided: bool
    counts: dict[str, int]
    decisions: list[Decision]
    metrics: dict[str, Metric]
    baseline: str | None
    seconds: float = 0.0
    checkpoint: str = ""  # the checkpoint the gate checked
    distributed: dict | None = None  # world_size, backend, examples_per_rank (torchrun)


def decide(value: float, bound: float | None, kind: str, limit: float) -> str:
    """'pass', 'fail' or 'undecided' for a value ± bound against a max or min threshold."""
    b = 0.0 if bound is None else float(bound)
    low, high = value - b, value + b
    if kind == "max":
        return "pass" if high < limit else "fail" if low > limit else "undecided"
    return "pass" if low > limit else "fail" if high < limit else "undecided"


def evaluate(
    thresholds: list[Threshold], metrics: dict[str, Metric], failures: dict[str, str] | None = None
) -> list[Decision]:
    """One decision per threshold; `failures` maps a metric to a numerical failure."""
    failures = failures or {}
    out = []
    for t in thresholds:
        m = metrics.get(t.metric)
        value = None if m is None else m.value
        bound = None if m is None else m.error_bound
        if t.metric in failures:
            verdict, reason = "error", failures[t.metric]
        elif m is None:
            verdict, reason = "error", "the metric was not computed"
        elif not _finite(value) or (bound is not None and not _finite(bound)):
            verdict, reason = "error", f"the metric is {value} ± {bound} (not finite)"
        else:
            verdict = decide(value, bound, t.kind, t.limit)
            reason = _reason(verdict, value, bound, t)
        out.append(Decision(t.metric, t.kind, t.limit, value, bound, verdict, reason, t.source))
    return out


def _finite(x) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


def _reason(verdict: str, value: float, bound: float | None, t: Threshold) -> str:
    b = bound or 0.0
    upper, lower = f"v + b = {value + b:.10g}", f"v − b = {value - b:.10g}"
    if verdict == "undecided":
        return f"{t.limit:.10g} lies within v ± b = {value:.10g} ± {b:.2g}"
    if t.kind == "max":
        return f"{upper} < {t.limit:.10g}" if verdict == "pass" else f"{lower} > {t.limit:.10g}"
    return f"{lower} > {t.limit:.10g}" if verdict == "pass" else f"{upper} < {t.limit:.10g}"


def exit_code(decisions: list[Decision], allow_undecided: bool) -> int:
    verdicts = {d.verdict for d in decisions}
    if "error" in verdicts:
        return EXIT_NUMERICAL
    if "fail" in verdicts or ("undecided" in verdicts and not allow_undecided):
        return EXIT_VIOLATED
    return EXIT_PASS


def make_report(
    decisions: list[Decision],
    metrics: dict[str, Metric],
    allow_undecided: bool,
    baseline: str | None,
    seconds: float = 0.0,
    checkpoint: str = "",
    distributed: dict | None = None,
) -> GateReport:
    code = exit_code(decisions, allow_undecided)
    counts = {
        v: sum(d.verdict == v for d in decisions) for v in ("pass", "fail", "undecided", "error")
    }
    return GateReport(
        passed=code == EXIT_PASS,
        exit_code=code,
        allow_undecided=allow_undecided,
        counts=counts,
        decisions=decisions,
        metrics=metrics,
        baseline=baseline,
        seconds=seconds,
        checkpoint=checkpoint,
        distributed=distributed,
    )


class GateFailed(LandscapeError):
    """A threshold is violated (or undecided and not allowed): exit code 1."""

    exit_code = EXIT_VIOLATED


def raise_for(report: GateReport) -> None:
    """Raise the error that carries the gate's exit code (nothing when it passed)."""
    if report.exit_code == EXIT_NUMERICAL:
        bad = [d for d in report.decisions if d.verdict == "error"]
        raise NumericalError(
            "gate: " + "; ".join(f"{d.metric}: {d.reason}" for d in bad),
            "the thresholds on these metrics could not be decided",
        )
    if report.exit_code == EXIT_VIOLATED:
        bad = [d for d in report.decisions if d.verdict in ("fail", "undecided")]
        raise GateFailed(
            "gate failed: "
            + "; ".join(
                f"{d.metric} {d.verdict} ({d.kind} {d.limit:.10g}: {d.reason})" for d in bad
            )
        )


# ---------------------------------------------------------------- what a failed solve leaves
SOLVE_FIX = "raise --max-products or loosen --tol"


def check_computable(thresholds: list[Threshold], unavailable: dict[str, str]) -> None:
    """InputError when a threshold needs a metric these inputs cannot give."""
    for t in thresholds:
        if t.metric in unavailable:
            raise InputError(
                f"a threshold needs {t.metric} but {unavailable[t.metric]}",
                f"remove the {t.metric} threshold or give what it needs",
            )


def solver_failures(report) -> dict[str, str]:
    """Metrics whose Lanczos solve did not converge (a numerical failure: exit code 3)."""
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
                f"tol {report.settings.tol:g} × scale); {SOLVE_FIX}"
            )
    return out


def taylor_order_of(directions) -> tuple[Metric | None, str]:
    orders = [(d.order_r2_hessian, d.name) for d in directions if d.order_r2_hessian is not None]
    if orders:
        order, name = min(orders)
        return Metric(order, None, f"{TAYLOR_NOTE}; lowest along {name}"), ""
    exact = [d for d in directions if _r2_status(d) == "exact"]
    if directions and len(exact) == len(directions):
        return Metric(
            3.0, None, "R₂ᴴ exact to round-off along every direction (order ≥ 3, reported as 3)"
        ), ""
    reasons = "; ".join(f"{d.name}: {d.reason}" for d in directions) or "no direction checked"
    return None, f"no Taylor order could be observed ({reasons})"


def _r2_status(direction) -> str:
    return next((c.status for c in direction.checks if c.residual == "r2_hessian"), "")
