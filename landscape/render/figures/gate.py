"""The figure of `landscape gate`: each threshold's slack with its error bar."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from landscape.analyses.gate import GateReport
from landscape.render.figures import save

COLOR = {"pass": "C2", "fail": "C3", "undecided": "C1", "error": "C4"}


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
    save(fig, target)
