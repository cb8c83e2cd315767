"""Terminal table and figure for `landscape spectrum`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from rich.console import Console
from rich.table import Table

from landscape_cli.analyses.spectrum import SpectrumReport
from landscape_cli.render.terminal.common import mark, num, pm


def eigen_table(title: str, pairs, solver_tol: float | None = None) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("eigenvalue", justify="right")
    table.add_column("error bound ‖Av−λv‖", justify="right")
    table.add_column("converged", justify="center")
    for i, e in enumerate(pairs, 1):
        table.add_row(str(i), num(e.value, 10), f"{e.error_bound:.2e}", mark(e.converged))
    return table


def print_spectrum(report: SpectrumReport, console: Console) -> None:
    r = report
    console.print(
        f"[bold]{r.curvature}[/] of the mean {r.num_samples}-example loss "
        f"(L = {num(r.loss)}), {r.num_params} parameters, {r.dtype} on {r.device}"
    )
    if r.top:
        console.print(eigen_table("Top eigenvalues", r.top))
    if r.bottom:
        console.print(eigen_table("Bottom eigenvalues (most negative first)", r.bottom))
    c = r.condition
    lines = [
        f"trace            {pm(r.trace.value, r.trace.stderr)}  ({r.trace.method}, "
        f"{r.trace.products} products; trace/p = {num(r.trace.value / r.num_params)})",
        f"λ_max            {num(c.lambda_max, 10)}",
        f"λ_min            {num(c.lambda_min, 10)}",
    ]
    if c.condition_number is not None:
        lines.append(f"condition number {num(c.condition_number)}  (λ_max/λ_min)")
    elif c.lambda_min < 0:
        lines.append(f"|λ_min|/λ_max    {num(c.negative_ratio)}  (indefinite)")
    else:
        lines.append("condition number unbounded (λ_min is 0 within its error bound)")
    lines.append(
        f"negative share   {c.negative_fraction:.1%} ± {c.negative_fraction_stderr:.1%} of "
        f"eigenvalues below 0 (SLQ; quadrature resolution {c.negative_fraction_resolution:.0%}"
        + (
            ": the bulk of eigenvalues near 0 is not resolved)"
            if c.negative_fraction_resolution > 0.05
            else ")"
        )
    )
    if r.density:
        d = r.density
        lines.append(
            f"negative mass    {num(d.negative_mass)}  ((1/p)·Σ|λ| over λ < 0; density: "
            f"{d.num_starts} starts × {d.lanczos_steps} steps, σ = {num(d.sigma, 3)})"
        )
    s = r.solver
    lines.append(
        f"solver           Lanczos, {'converged' if s.converged else 'NOT converged'} to tol "
        f"{s.tol:g}: {s.products} products, Krylov dim {s.krylov_dim}, {s.restarts} restarts"
    )
    lines.append(
        f"total            {r.products} {r.curvature}-vector products "
        f"({r.strategy}), {r.seconds:.2f} s"
    )
    console.print("\n".join(lines), markup=False)
    if r.per_layer:
        table = Table(title="Per parameter block", title_justify="left")
        for col in ("block", "params", "λ_max", "bound", "trace", "stderr"):
            table.add_column(col, justify="right" if col != "block" else "left")
        for layer in r.per_layer:
            table.add_row(
                layer.name,
                str(layer.num_params),
                num(layer.lambda_max.value, 8),
                f"{layer.lambda_max.error_bound:.1e}",
                num(layer.trace.value, 6),
                f"{layer.trace.stderr:.1e}",
            )
        console.print(table)


def draw_spectrum(report: SpectrumReport, target) -> None:
    """Extreme eigenvalues with error bars; the density beside them when computed."""
    panels = 2 if report.density else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4), squeeze=False)
    ax = axes[0, 0]
    eigen_errorbars(ax, report.top, report.bottom)
    values = [abs(e.value) for e in report.top + report.bottom if e.value != 0]
    if values and max(values) > 100 * min(values):  # both ends visible on one axis
        ax.set_yscale("symlog", linthresh=min(values))
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("index k")
    ax.set_ylabel("eigenvalue")
    ax.set_title(f"{report.curvature}: extreme eigenvalues (bars: certified bounds)")
    ax.legend()
    if report.density:
        draw_density(report.density, axes[0, 1], report.curvature)
    fig.tight_layout()
    fig.savefig(target, format="png", dpi=120)
    plt.close(fig)


def eigen_errorbars(ax, top, bottom) -> None:
    """Top and bottom eigenvalues against their index, with their certified bounds as bars."""
    for pairs, color, label in ((top, "C0", "top"), (bottom, "C3", "bottom")):
        if pairs:
            x = np.arange(1, len(pairs) + 1)
            values, bounds = [e.value for e in pairs], [e.error_bound for e in pairs]
            ax.errorbar(x, values, yerr=bounds, fmt="o", color=color, capsize=3, label=label)
    ax.axhline(0, color="0.6", lw=0.8)


def draw_density(density, ax, name: str) -> None:
    grid, values = np.asarray(density.grid), np.asarray(density.density)
    ax.semilogy(grid, np.maximum(values, 1e-12), color="C0")
    ax.axvline(0, color="0.6", lw=0.8)
    ax.fill_between(
        grid,
        1e-12,
        np.maximum(values, 1e-12),
        where=grid < 0,
        color="C3",
        alpha=0.3,
        label=f"negative: {density.negative_fraction:.1%} of eigenvalues "
        f"(resolution {density.negative_fraction_resolution:.0%}), "
        f"mass {density.negative_mass:.3g}",
    )
    ax.set_ylim(bottom=max(1e-8, values.max() * 1e-8))
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("density")
    ax.set_title(f"{name}: spectral density (SLQ, {density.num_starts} starts)")
    ax.legend()
