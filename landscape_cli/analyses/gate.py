"""`landscape gate`: thresholds on reported metrics, decided with their error bounds.

A threshold is `max` (the metric must stay below) or `min` (above). With a value v and an
error bound b (0 when the metric has none):
- max T: pass when v + b < T, fail when v − b > T, otherwise undecided;
- min T: pass when v − b > T, fail when v + b < T, otherwise undecided.
An undecided threshold fails the gate unless undecided results are allowed. A metric that is
NaN or whose eigen-solver did not converge is an error (exit code 3).

Thresholds come from the `[gate]` table of a TOML file (`lambda_max = {max = 50}`,
`lambda_min = {min = -1}`, `trace = {max_increase = "10%"}`), from `--max name=value` /
`--min name=value`, and relative to a saved report (`--baseline old.json`): `max_increase`
("10%" of |baseline|, or an absolute amount) gives max = b + increase, `max_decrease` gives
min = b − decrease.
"""

from __future__ import annotations

import json
import math
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from landscape_cli.analyses.sharpness.analysis import Metric
from landscape_cli.errors import InputError, LandscapeError, NumericalError

EXIT_PASS, EXIT_VIOLATED, EXIT_INPUT, EXIT_NUMERICAL = 0, 1, 2, 3
KEYS = ("max", "min", "max_increase", "max_decrease")


@dataclass
class Threshold:
    metric: str
    kind: str  # "max" | "min"
    limit: float
    source: str  # where it came from, in words


@dataclass
class Relative:
    metric: str
    kind: str  # "max_increase" | "max_decrease"
    amount: float
    percent: bool
    source: str


@dataclass
class Decision:
    metric: str
    kind: str
    limit: float
    value: float | None
    error_bound: float | None
    verdict: str  # "pass" | "fail" | "undecided" | "error"
    reason: str
    source: str


@dataclass(kw_only=True)
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


# ------------------------------------------------------------------------ thresholds
def parse_assignments(items: list[str] | None, kind: str) -> list[Threshold]:
    """`--max lambda_max=50` items as thresholds."""
    out = []
    for item in items or []:
        name, sep, text = str(item).partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name:
            raise InputError(
                f"--{kind} '{item}' is not name=value", f"write e.g. --{kind} lambda_max=50"
            )
        out.append(Threshold(name, kind, _number(text, f"--{kind} {item}"), f"--{kind}"))
    return out


def parse_table(table, where: str) -> tuple[list[Threshold], list[Relative]]:
    """A `[gate]` table: metric = {max = .., min = .., max_increase = .., max_decrease = ..}."""
    if not isinstance(table, dict):
        raise InputError(
            f"the gate thresholds in {where} are not a table",
            "write [gate] with lines like lambda_max = {max = 50}",
        )
    absolute, relative = [], []
    for raw_name, spec in table.items():
        name = str(raw_name).replace("-", "_")
        if not isinstance(spec, dict) or not spec:
            raise InputError(
                f"gate threshold '{name}' in {where} is {spec!r}, not a table",
                f"write {name} = {{max = ...}} or {{min = ...}}",
            )
        for key, value in spec.items():
            key = str(key).replace("-", "_")
            if key not in KEYS:
                raise InputError(
                    f"gate threshold '{name}' in {where} has unknown key '{key}'",
                    f"use {', '.join(KEYS)}",
                )
            label = f"{where} {name}.{key}"
            if key in ("max", "min"):
                absolute.append(Threshold(name, key, _number(value, label), where))
            else:
                amount, percent = _amount(value, label)
                relative.append(Relative(name, key, amount, percent, where))
    return absolute, relative


def read_gate_file(path) -> dict:
    """The thresholds of a TOML file: its [gate] table, else the whole file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"gate file '{path}' not found", "check the --gate path")
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"gate file '{path}' is not valid TOML ({exc})", "fix the file") from None
    return data.get("gate", data)


def load_baseline(path) -> dict[str, Metric]:
    """The metrics of a saved report (`sharpness --json`, `gate --json` or report.json)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"baseline report '{path}' not found", "check the --baseline path")
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(
            f"baseline '{path}' is not JSON ({exc})",
            "save one with `landscape sharpness --json > old.json`",
        ) from None
    metrics = data.get("metrics") if isinstance(data, dict) else None
    if not isinstance(metrics, dict):
        raise InputError(
            f"baseline '{path}' has no \"metrics\" table",
            "save one with `landscape sharpness --json > old.json`",
        )
    out = {}
    for name, entry in metrics.items():
        value = entry.get("value") if isinstance(entry, dict) else entry
        if isinstance(value, int | float) and not isinstance(value, bool):
            bound = entry.get("error_bound") if isinstance(entry, dict) else None
            out[name] = Metric(float(value), bound)
    return out


def resolve_relative(
    relative: list[Relative], baseline: dict[str, Metric] | None, baseline_name: str | None
) -> list[Threshold]:
    """Relative thresholds against the baseline's values."""
    if relative and baseline is None:
        names = ", ".join(sorted({r.metric for r in relative}))
        raise InputError(
            f"thresholds relative to a baseline ({names}) but no --baseline",
            "pass --baseline old.json (a saved `landscape sharpness --json`)",
        )
    out = []
    for r in relative:
        if r.metric not in baseline:
            raise InputError(
                f"the baseline {baseline_name} has no metric '{r.metric}'",
                f"it holds: {', '.join(sorted(baseline)) or 'nothing'}",
            )
        base = baseline[r.metric].value
        step = abs(base) * r.amount / 100 if r.percent else r.amount
        shown = f"{r.amount:g}%" if r.percent else f"{r.amount:g}"
        kind = "max" if r.kind == "max_increase" else "min"
        limit = base + step if kind == "max" else base - step
        word = "increase" if kind == "max" else "decrease"
        out.append(
            Threshold(r.metric, kind, limit, f"baseline {base:.6g} {word} ≤ {shown} ({r.source})")
        )
    return out


def _number(value, label: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{label}: '{value}' is not a number", "write e.g. 50 or 1e-3") from None
    if not math.isfinite(number):
        raise InputError(f"{label}: threshold {value} is not finite", "give a finite number")
    return number


def _amount(value, label: str) -> tuple[float, bool]:
    """'10%' → (10, True); 0.5 → (0.5, False)."""
    text = str(value).strip()
    percent = text.endswith("%")
    amount = _number(text[:-1] if percent else value, label)
    if amount < 0:
        raise InputError(f"{label}: {value} is negative", "give the allowed change as ≥ 0")
    return amount, percent


def check_names(thresholds: list[Threshold], known) -> None:
    known = set(known)
    for t in thresholds:
        if t.metric not in known:
            import difflib

            close = difflib.get_close_matches(t.metric, sorted(known), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise InputError(
                f"unknown metric '{t.metric}' in a gate threshold ({t.source})",
                f"{hint}metrics: {', '.join(sorted(known))}",
            )


# --------------------------------------------------------------------------- decisions
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


# ------------------------------------------------------------------------------- JUnit
def junit_xml(report: GateReport) -> bytes:
    """One <testcase> per threshold: <failure> for fail (and undecided unless allowed),
    <error> for numerical failures."""
    failing = report.counts["fail"] + (0 if report.allow_undecided else report.counts["undecided"])
    suite = ET.Element(
        "testsuite",
        name="landscape gate",
        tests=str(len(report.decisions)),
        failures=str(failing),
        errors=str(report.counts["error"]),
        skipped="0",
        time=f"{report.seconds:.3f}",
    )
    for d in report.decisions:
        case = ET.SubElement(
            suite,
            "testcase",
            classname="landscape.gate",
            name=f"{d.metric} {d.kind} {d.limit:.10g}",
            time="0",
        )
        text = f"{d.metric} = {_shown(d)}; {d.kind} {d.limit:.10g} ({d.source}): {d.reason}"
        if d.verdict == "error":
            ET.SubElement(case, "error", message=d.reason, type="numerical").text = text
        elif d.verdict == "fail" or (d.verdict == "undecided" and not report.allow_undecided):
            ET.SubElement(
                case, "failure", message=f"{d.verdict}: {d.reason}", type=d.verdict
            ).text = text
        else:
            ET.SubElement(case, "system-out").text = f"{d.verdict}: {text}"
    ET.indent(suite)
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True) + b"\n"


def _shown(d: Decision) -> str:
    if d.value is None:
        return "n/a"
    return f"{d.value:.10g}" + ("" if d.error_bound is None else f" ± {d.error_bound:.2g}")


# ------------------------------------------------------------- metrics from other analyses
TAYLOR_NOTE = "smallest observed order of R₂ᴴ over the taylor-check directions (expected 3)"


def taylor_available() -> str:
    """'' when taylor_order can be computed, else why not."""
    try:
        from landscape_cli.analyses import taylor
    except ImportError as exc:
        return f"the taylor-check analysis is missing ({exc})"
    if not all(hasattr(taylor, n) for n in ("analyse_taylor", "TaylorSettings", "halving_steps")):
        return "the taylor-check analysis lacks analyse_taylor/TaylorSettings/halving_steps"
    return ""


def taylor_order_metric(problem, opt: dict, strategy: str) -> tuple[Metric | None, str]:
    """(taylor_order, '') or (None, why it failed numerically), from `landscape taylor-check`
    run with the resolved options (eps, steps, sweep, direction, seed)."""
    from landscape_cli.analyses import taylor
    from landscape_cli.curvature import GGNOperator, HessianOperator

    if opt.get("sweep"):
        etas = taylor.parse_sweep(opt["sweep"])
    else:
        etas = taylor.halving_steps(float(opt["eps"]), int(opt["steps"]))
    wanted = str(opt.get("direction") or "all")
    directions = (
        list(taylor.DIRECTIONS) if wanted == "all" else [d.strip() for d in wanted.split(",")]
    )
    unknown = [d for d in directions if d not in taylor.DIRECTIONS]
    if unknown:
        raise InputError(
            f"unknown taylor direction(s) {', '.join(unknown)}",
            f"use all or a comma list of {', '.join(taylor.DIRECTIONS)}",
        )
    settings = taylor.TaylorSettings(etas=etas, directions=directions, seed=int(opt["seed"]))
    report = taylor.analyse_taylor(
        problem, HessianOperator(problem, strategy), GGNOperator(problem, strategy), settings
    )
    return taylor_order_of(report.directions)


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
