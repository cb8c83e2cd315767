"""Terminal table and figure for `landscape gate`."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from rich.console import Console
from rich.table import Table

from landscape_cli.analyses.gate import GateReport
from landscape_cli.render.terminal.common import num

STYLE = {"pass": "green", "fail": "red", "undecided": "yellow", "error": "magenta"}
COLOR = {"pass": "C2", "fail": "C3", "undecided": "C1", "error": "C4"}


def print_gate(report: GateReport, console: Console) -> None:
    table = Table(title="Gate", title_justify="left")
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
    console.print(table)
    for d in report.decisions:
        if d.verdict != "pass" or d.source.startswith("baseline"):
            console.print(
                f"{d.metric} {d.kind} {d.limit:.10g}: {d.verdict}: {d.reason} (from {d.source})",
                markup=False,
                highlight=False,
            )
    c = report.counts
    word = "[bold green]PASSED[/]" if report.passed else "[bold red]FAILED[/]"
    console.print(
        f"gate {word} (exit code {report.exit_code}): {c['pass']} pass, {c['fail']} "
        f"fail, {c['undecided']} undecided, {c['error']} error; "
        f"{report.seconds:.2f} s"
    )


def draw_gate(report: GateReport, target) -> None:
    """Each threshold's relative slack (limit − value)/|limit| for max, (value − limit)/|limit|
    for min: positive passes; bars are the error bounds."""
    ds = report.decisions
    fig, ax = plt.subplots(figsize=(7.5, 0.6 * len(ds) + 1.6))
    for i, d in enumerate(ds):
        if d.value is None or not math.isfinite(d.value):
            ax.text(0, i, f"{d.verdict}: no value", ha="center", va="center", color="C4")
            continue
        scale = abs(d.limit) if d.limit != 0 else max(abs(d.value), 1e-300)
        slack = (d.limit - d.value if d.kind == "max" else d.value - d.limit) / scale
        err = (d.error_bound or 0.0) / scale
        ax.errorbar([slack], [i], xerr=[err], fmt="o", color=COLOR[d.verdict], capsize=4)
    ax.axvline(0, color="0.4", lw=1)
    ax.set_yticks(np.arange(len(ds)))
    ax.set_yticklabels([f"{d.metric} {d.kind} {d.limit:.6g}" for d in ds])
    ax.set_ylim(-0.7, len(ds) - 0.3)
    ax.set_xlabel("relative slack to the threshold (> 0 passes; bars: error bounds)")
    state = "passed" if report.passed else "failed"
    ax.set_title(f"landscape gate: {state} (exit code {report.exit_code})")
    fig.tight_layout()
    fig.savefig(target, format="png", dpi=120)
    plt.close(fig)
