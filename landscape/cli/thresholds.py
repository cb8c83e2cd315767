"""Gate thresholds from what the user wrote: `--max name=value`, `--min name=value`, a
`[gate]` table (of --gate FILE or the config), and limits relative to a saved report
(`--baseline old.json`). Errors name the flag, the file and the key."""

from __future__ import annotations

import difflib
import json
import math
import tomllib
from pathlib import Path

from landscape.analyses.gate import Relative, Threshold
from landscape.analyses.sharpness import Metric
from landscape.errors import InputError
from landscape.nesting import parsed

KEYS = ("max", "min", "max_increase", "max_decrease")  # of a [gate] table's entries


def gather_thresholds(opt: dict, known) -> list[Threshold]:
    """Thresholds from --gate FILE or the config's [gate] table, --max/--min and --baseline."""
    absolute, relative = [], []
    table, where = _gate_table(opt.get("gate"))
    if table is not None:
        absolute, relative = parse_table(table, where)
    absolute += parse_assignments(_items(opt.get("max")), "max")
    absolute += parse_assignments(_items(opt.get("min")), "min")
    baseline = load_baseline(opt["baseline"]) if opt.get("baseline") else None
    if baseline is not None and not relative:
        raise InputError(
            "--baseline was given but no threshold is relative to it",
            'add e.g. lambda_max = {max_increase = "10%"} to the [gate] table',
        )
    name = None if opt.get("baseline") is None else str(opt["baseline"])
    thresholds = absolute + resolve_relative(relative, baseline, name)
    if not thresholds:
        raise InputError(
            "the gate has no thresholds",
            "pass --max lambda_max=50, or --config gate.toml with a [gate] table",
        )
    check_names(thresholds, known)
    return thresholds


def _gate_table(value) -> tuple[dict | None, str]:
    if value is None:
        return None, ""
    if isinstance(value, dict):
        return value, "the config's [gate] table"
    return read_gate_file(value), f"'{value}'"


def _items(value) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


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
            data = parsed(tomllib.load, fh, f"gate file '{path}'")
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"gate file '{path}' is not valid TOML ({exc})", "fix the file") from None
    return data.get("gate", data)


def load_baseline(path) -> dict[str, Metric]:
    """The metrics of a saved report (`sharpness --json`, `gate --json` or report.json)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"baseline report '{path}' not found", "check the --baseline path")
    try:
        data = parsed(json.loads, path.read_text(), f"baseline '{path}'")
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
        base = _baseline_value(baseline[r.metric], r.metric, baseline_name)
        step = abs(base) * r.amount / 100 if r.percent else r.amount
        shown = f"{r.amount:g}%" if r.percent else f"{r.amount:g}"
        kind = "max" if r.kind == "max_increase" else "min"
        limit = base + step if kind == "max" else base - step
        if not math.isfinite(limit):
            raise InputError(
                f"the {r.metric} {r.kind} {shown} over the baseline {baseline_name}'s "
                f"{base:.6g} overflows (the limit would be {limit}: a gate that cannot fail)",
                "give a smaller change, or check the baseline's value",
            )
        word = "increase" if kind == "max" else "decrease"
        out.append(
            Threshold(r.metric, kind, limit, f"baseline {base:.6g} {word} ≤ {shown} ({r.source})")
        )
    return out


def _baseline_value(metric: Metric, name: str, baseline_name: str | None) -> float:
    """A baseline value a limit is made from: finite, and so is its error bound."""
    bound = metric.error_bound
    if not math.isfinite(metric.value) or not (
        bound is None or (isinstance(bound, int | float) and math.isfinite(bound))
    ):
        raise InputError(
            f"the baseline {baseline_name} gives {name} = {metric.value} ± {bound}, which is "
            "not finite: no limit can be made from it",
            "save the baseline again from a run whose metric was finite",
        )
    return metric.value


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
            close = difflib.get_close_matches(t.metric, sorted(known), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise InputError(
                f"unknown metric '{t.metric}' in a gate threshold ({t.source})",
                f"{hint}metrics: {', '.join(sorted(known))}",
            )
