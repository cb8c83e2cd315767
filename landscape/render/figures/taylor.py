"""The log-log figure for `landscape taylor-check`: residuals against the step size."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from landscape.analyses.taylor import FLOOR_FACTOR, DirectionReport, TaylorReport
from landscape.render.figures import save

CURVES = (
    ("r0", "R₀ = |ΔL|", 1, "C7"),
    ("r1", "R₁", 2, "C0"),
    ("r2_hessian", "R₂ᴴ (Hessian)", 3, "C3"),
    ("r2_ggn", "R₂ᴳ (GGN)", None, "C2"),
)


def draw_taylor(report: TaylorReport, target) -> None:
    """Log-log residuals against η, one panel per direction."""
    n = len(report.directions)
    cols = min(n, 2)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.4 * cols, 4.8 * rows), squeeze=False)
    for ax, direction in zip(axes.flat, report.directions):
        draw_direction(ax, direction)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(
        f"Taylor check ({report.dtype}): residuals against the step size\n"
        "dashed: slopes 1, 2, 3 (a decade below); grey: round-off floor",
        fontsize=9,
    )
    fig.tight_layout()
    save(fig, target)


def draw_direction(ax, d: DirectionReport) -> None:
    etas = np.array([s.eta for s in d.steps])
    floor = np.array([FLOOR_FACTOR * s.noise for s in d.steps])
    bottom = max(floor.min() / 1e3, 1e-300)
    order = np.argsort(etas)
    ax.fill_between(
        etas[order], bottom, floor[order], color="0.85", label="round-off floor", step=None
    )
    for key, label, slope, color in CURVES:
        values = np.array([getattr(s, key) for s in d.steps])
        shown = np.maximum(values, bottom)
        ax.loglog(etas[order], shown[order], "o-", color=color, ms=4, lw=1.2, label=label)
        if slope is not None:
            _reference(ax, d, key, etas, values, slope, color)
    top = max(max(s.r0, s.r1) for s in d.steps)
    ax.set_ylim(bottom, max(top, bottom) * 10)
    kinked = [s.eta for s in d.steps if s.kinks]
    if kinked:
        ax.axvspan(min(kinked), max(kinked), color="C1", alpha=0.12, label="kink crossed")
    window = next((c.window for c in d.checks if c.residual == "r2_hessian" and c.window), None)
    if window:
        ax.axvspan(window[0], window[1], color="C3", alpha=0.06, label="R₂ᴴ window")
    ax.set_xlabel("step η along the unit direction d (parameter units)")
    ax.set_ylabel("residual (loss units)")
    ax.set_title(
        f"{d.name}: {d.status}  (p₁ = {_fmt(d.order_r1)}, p₂ᴴ = "
        f"{_fmt(d.order_r2_hessian)}, p₂ᴳ = {_fmt(d.order_r2_ggn)})",
        fontsize=9,
    )
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(True, which="major", alpha=0.3)


def _reference(ax, d, key, etas, values, slope, color) -> None:
    """A dashed line of slope `slope` a decade below the residual, through the middle of its
    asymptotic window (for R₀: its smallest measurable step), labelled there."""
    ok = [i for i, s in enumerate(d.steps) if values[i] > FLOOR_FACTOR * s.noise]
    window = next((c.window for c in d.checks if c.residual == key and c.window), None)
    if window:
        ok = [i for i in ok if window[0] <= etas[i] <= window[1]] or ok
    if not ok:
        return
    ok.sort(key=lambda k: etas[k])
    i = ok[len(ok) // 2] if window else ok[0]
    x = np.array([etas.min(), etas.max()])
    y = 0.1 * values[i] * (x / etas[i]) ** slope
    ax.loglog(x, y, "--", color=color, lw=0.9, alpha=0.8)
    ax.annotate(
        f"slope {slope}",
        (etas[i], 0.1 * values[i]),
        textcoords="offset points",
        xytext=(6, -10),
        fontsize=7,
        color=color,
    )


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"
