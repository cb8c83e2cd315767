"""The terminal view of `landscape gate`."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from landscape.analyses.gate import GateReport
from landscape.render.terminal.common import num

STYLE = {"pass": "green", "fail": "red", "undecided": "yellow", "error": "magenta"}


def gate_view(report: GateReport) -> RenderableType:
    parts: list[RenderableType] = [decision_table(report)]
    for d in report.decisions:
        if d.verdict != "pass" or d.source.startswith("baseline"):
            parts.append(
                Text(
                    f"{d.metric} {d.kind} {d.limit:.10g}: {d.verdict}: {d.reason} (from {d.source})"
                )
            )
    c = report.counts
    word = "[bold green]PASSED[/]" if report.passed else "[bold red]FAILED[/]"
    parts.append(
        Text.from_markup(
            f"gate {word} (exit code {report.exit_code}): {c['pass']} pass, {c['fail']} "
            f"fail, {c['undecided']} undecided, {c['error']} error; "
            f"{report.seconds:.2f} s"
        )
    )
    return Group(*parts)


def decision_table(report: GateReport) -> Table:
    title = f"Gate on {report.checkpoint}" if report.checkpoint else "Gate"
    table = Table(title=title, title_justify="left")
    for col, justify in (
        ("metric", "left"),
        ("value ± bound", "right"),
        ("threshold", "right"),
        ("verdict", "center"),
    ):
        table.add_column(col, justify=justify, no_wrap=True)
    for d in report.decisions:
        value = "n/a" if d.value is None else num(d.value, 8)
        if d.error_bound is not None and d.value is not None:
            value += f" ± {d.error_bound:.2g}"
        verdict = d.verdict
        if verdict == "undecided" and report.allow_undecided:
            verdict = "undecided (allowed)"
        table.add_row(
            d.metric, value, f"{d.kind} {d.limit:.10g}", f"[{STYLE[d.verdict]}]{verdict}[/]"
        )
    return table
