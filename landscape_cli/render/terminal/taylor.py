"""Terminal tables and the log-log figure for `landscape taylor-check`."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from rich import box
from rich.console import Console
from rich.table import Table

from landscape_cli.analyses.taylor.analysis import FLOOR_FACTOR, DirectionReport, TaylorReport
from landscape_cli.render.terminal.common import num

STATUS_STYLE = {"passed": "green", "failed": "red", "inconclusive": "yellow", "not-checked": "cyan"}
REGIME_STYLE = {
    "asymptotic": "",
    "floor": "dim",
    "non-asymptotic": "yellow",
    "kink": "red",
    "single": "",
}
REGIME_CODE = {"asymptotic": "A", "floor": "F", "non-asymptotic": "N", "kink": "K", "single": "-"}
CURVES = (
    ("r0", "R₀ = |ΔL|", 1, "C7"),
    ("r1", "R₁", 2, "C0"),
    ("r2_hessian", "R₂ᴴ (Hessian)", 3, "C3"),
    ("r2_ggn", "R₂ᴳ (GGN)", None, "C2"),
)


def print_taylor(report: TaylorReport, console: Console) -> None:
    r = report
    console.print(
        f"[bold]Taylor check[/] of the mean {r.num_samples}-example loss (L = {num(r.loss, 10)}), "
        f"{r.num_params} parameters, {r.dtype} on {r.device}; {len(r.etas)} steps "
        f"η = {r.etas[0]:.3g} … {r.etas[-1]:.3g}"
    )
    for direction in r.directions:
        console.print(step_table(direction))
        console.print(direction_summary(direction), markup=True, highlight=False)
    for why in r.skipped:
        console.print(f"skipped {why}", markup=False)
    console.print(
        "reg = regime of R₁/R₂ᴴ/R₂ᴳ: A asymptotic window, F round-off floor (residual below "
        f"{FLOOR_FACTOR:g} × the noise of ΔL), N non-asymptotic, K a kink crossed; "
        "p = observed order against the previous (larger) step",
        style="dim",
        markup=False,
    )
    console.print(verdict_line(r))


def verdict_line(r: TaylorReport) -> str:
    costs = (
        f"{r.loss_evaluations} loss evaluations, {r.hessian_products} Hessian + "
        f"{r.eigen_products} eigenvector + {r.ggn_products} GGN products ({r.strategy}), "
        f"{r.seconds:.2f} s"
    )
    if all(d.status == "not-checked" for d in r.directions):
        return f"a single step: residuals reported, no order judged; {costs}"
    rule = f"R₁ order ≥ {r.thresholds['r1']} and R₂ᴴ order ≥ {r.thresholds['r2_hessian']}"
    if r.passed:
        return f"[green]PASSED[/]: {rule} in every direction; {costs}"
    return f"[red]NOT PASSED[/]: {rule} not shown in every direction (see above); {costs}"


def step_table(d: DirectionReport) -> Table:
    """One row per step, narrow enough for 80 columns (ηgᵀd and ½η²dᵀHd are in the JSON)."""
    style = STATUS_STYLE.get(d.status, "")
    table = Table(
        title=f"direction {d.name}: [{style}]{d.status}[/]",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 0, 0, 2),
        pad_edge=False,
        show_edge=False,
    )
    counted = any(s.kinks is not None for s in d.steps)
    columns = ["η", "ΔL", "R₁", "p₁", "R₂ᴴ", "p₂ᴴ", "R₂ᴳ", "p₂ᴳ", "reg"]
    for col in columns + (["kinks"] if counted else []):
        table.add_column(col, justify="right", no_wrap=True)
    for s in d.steps:
        codes = "".join(
            REGIME_CODE.get(getattr(s, f"regime_{k}"), "?") for k in ("r1", "r2_hessian", "r2_ggn")
        )
        row = [
            f"{s.eta:.3g}",
            f"{s.delta_loss:.2e}",
            _cell(s.r1, s.regime_r1),
            _order(s.order_r1),
            _cell(s.r2_hessian, s.regime_r2_hessian),
            _order(s.order_r2_hessian),
            _cell(s.r2_ggn, s.regime_r2_ggn),
            _order(s.order_r2_ggn),
            codes,
        ]
        table.add_row(*row, *([str(s.kinks or 0)] if counted else []))
    return table


def _cell(value: float, regime: str) -> str:
    style = REGIME_STYLE.get(regime, "")
    text = f"{value:.2e}"
    return f"[{style}]{text}[/]" if style else text


def _order(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def direction_summary(d: DirectionReport) -> str:
    dec = d.decomposition
    lines = [f"  [{STATUS_STYLE.get(d.status, '')}]{d.status}[/]: {_escape(d.reason)}"]
    for check in d.checks:
        order = "n/a" if check.order is None else f"{check.order:.3f}"
        window = (
            ""
            if check.window is None
            else f" over η ∈ [{check.window[0]:.3g}, {check.window[1]:.3g}] "
            f"({check.window_steps} steps)"
        )
        lines.append(f"  order {_sym(check.residual):4} {order}{window}: {check.status}")
    lines.append(
        f"  along d: gᵀd = {dec.gradient:.6g}, ½dᵀGd = {dec.half_ggn:.6g}, "
        f"½dᵀTd = {dec.half_nonlinearity:.6g} (½dᵀHd = {dec.half_hessian:.6g})"
    )
    if d.eigenvalue is not None:
        lines.append(f"  Hessian eigenvalue {d.eigenvalue:.8g} ± {d.eigenvalue_error_bound:.1e}")
    m6 = (
        "n/a"
        if d.m_over_6 is None
        else f"{d.m_over_6:.4g}" + ("" if d.m_over_6_converged else " (window order not 3: rough)")
    )
    radius = (
        "n/a"
        if d.trust_radius is None
        else (f"{'≥ ' if d.trust_radius_is_lower_bound else ''}{d.trust_radius:.3g}")
    )
    lines.append(
        f"  M/6 ≈ R₂ᴴ/η³ = {m6};  trust radius (R₂ᴴ ≤ 1% |ΔL|) = {radius};  "
        f"noise of L along d {d.noise.sigma:.2g} ({d.noise.method})"
    )
    if d.nonsmooth_ops:
        counted = (
            f"crossings counted for {', '.join(d.kinks_counted_in)} modules"
            if d.kinks_counted_in
            else "functional calls: crossings not counted"
        )
        lines.append(
            f"  piecewise-smooth operations in the loss: {', '.join(d.nonsmooth_ops)} ({counted})"
        )
    lines.extend(f"  note: {_escape(n)}" for n in d.notes)
    return "\n".join(lines)


def _sym(key: str) -> str:
    return {"r1": "R₁", "r2_hessian": "R₂ᴴ", "r2_ggn": "R₂ᴳ"}[key]


def _escape(text: str) -> str:
    return text.replace("[", r"\[")


# -- figure -----------------------------------------------------------------------------------
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
    fig.savefig(target, format="png", dpi=120)
    plt.close(fig)


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
    ax.set_xlabel("step η")
    ax.set_ylabel("residual")
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
