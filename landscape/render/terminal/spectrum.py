"""The terminal view of `landscape spectrum`."""

from __future__ import annotations

import math

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from landscape.analyses.spectrum import SpectrumReport
from landscape.estimators.basis import format_bytes
from landscape.estimators.slq import UNRESOLVED_WIDTH
from landscape.render.terminal.common import loss_phrase, mark, num, pm, theta_phrase


def eigen_table(title: str, pairs, solver_tol: float | None = None) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("eigenvalue", justify="right")
    table.add_column("error bound ‖Av−λv‖", justify="right")
    table.add_column("converged", justify="center")
    for i, e in enumerate(pairs, 1):
        table.add_row(str(i), num(e.value, 10), f"{e.error_bound:.2e}", mark(e.converged))
    return table


def interval_table(pairs) -> Table:
    """A PSD bottom at 0: the i-th smallest eigenvalue's interval [0, μ_i] (value ± bound)."""
    table = Table(title="Bottom eigenvalues (PSD, a cluster at 0)", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("i-th smallest lies in", justify="right")
    table.add_column("converged", justify="center")
    for i, e in enumerate(pairs, 1):
        table.add_row(str(i), f"[0, {e.value + e.error_bound:.3g}]", mark(e.converged))
    return table


def spectrum_view(report: SpectrumReport) -> RenderableType:
    r = report
    parts: list[RenderableType] = [
        Text.from_markup(
            f"[bold]{r.curvature}[/] of {loss_phrase(r)} "
            f"(L = {num(r.loss)}), {theta_phrase(r)}, {r.dtype} on {r.device}"
        )
    ]
    if r.top:
        parts.append(eigen_table("Top eigenvalues", r.top))
    if r.bottom and r.bottom_intervals:
        parts.append(interval_table(r.bottom))
    elif r.bottom:
        parts.append(eigen_table("Bottom eigenvalues (most negative first)", r.bottom))
    parts.append(Text("\n".join(summary_lines(r))))
    if r.per_layer:
        parts.append(layer_table(r))
    return Group(*parts)


def summary_lines(r: SpectrumReport) -> list[str]:
    c = r.condition
    lines = []
    if r.trace is not None:
        lines.append(
            f"trace            {pm(r.trace.value, r.trace.stderr)}  ({r.trace.method}, "
            f"{r.trace.products} products; trace/p = {num(r.trace.value / r.num_params)})"
        )
    if c.lambda_max is not None:
        lines.append(f"λ_max            {num(c.lambda_max, 10)}")
    if r.bottom_intervals:
        low = r.bottom[0]
        lines.append(f"λ_min            in [0, {low.value + low.error_bound:.3g}]")
    elif c.lambda_min is not None:
        lines.append(f"λ_min            {num(c.lambda_min, 10)}")
    lines += condition_lines(c)
    if r.density:
        lines += density_lines(r.density)
    more = ["trace (--trace)"] if r.trace is None else []
    if not r.density:
        more.append("density and negative share (--density)")
    if more:
        lines.append(f"not computed     {', '.join(more)}")
    if r.bottom_note:
        lines.append(f"bottom end       {r.bottom_note}")
    s = r.solver
    lines.append(
        f"solver           Lanczos, {'converged' if s.converged else 'NOT converged'} to tol "
        f"{s.tol:g}: {s.products} products, Krylov dim {s.krylov_dim}, {s.restarts} restarts"
    )
    if s.basis is not None:
        lines.append(f"Krylov basis     {basis_phrase(s.basis)}")
    lines.append(
        f"total            {r.products} {r.curvature}-vector products "
        f"({r.strategy}), {r.seconds:.2f} s"
    )
    return lines


def basis_phrase(b) -> str:
    """Where the basis lived and the largest one its budget allowed."""
    where = "host (pinned)" if b.pinned else b.device
    return (
        f"up to {b.vectors} {b.dtype} vectors on {where}: {format_bytes(b.bytes)} "
        f"of a {format_bytes(b.budget)} budget"
        + ("; float64 coefficients" if b.dtype != "float64" else "")
    )


def condition_lines(c) -> list[str]:
    if c.lambda_max is None or c.lambda_min is None:
        return []
    if c.condition_number is not None:
        return [f"condition number {num(c.condition_number)}  (λ_max/λ_min)"]
    if c.lambda_min < 0:
        return [f"|λ_min|/λ_max    {num(c.negative_ratio)}  (indefinite)"]
    return ["condition number unbounded (λ_min is 0 within its error bound)"]


def density_lines(d) -> list[str]:
    """The negative share and mass as the intervals SLQ supports, and what they hold; the
    ends, no point between them (the Gauss rule's own share can sit anywhere inside)."""
    run = f"density: {d.num_starts} starts × {d.lanczos_steps} steps, σ = {num(d.sigma, 3)}"
    if d.psd:
        return [f"negative share   0, negative mass 0  (PSD by construction; {run})"]
    lo, hi = d.negative_fraction_interval
    share = f"between {outward(100 * lo, 100 * hi, 1, '%')} of eigenvalues below 0"
    unresolved = hi - lo > UNRESOLVED_WIDTH
    lines = [
        f"negative share   {'not resolved: ' if unresolved else ''}{share}",
        f"                 ({d.confidence:.0%} confidence: Gauss quadrature bounds over "
        f"{d.num_starts} random starts; |λ| ≤ {d.zero_tol:.1e} counts as either sign)",
    ]
    if unresolved:
        lines.append(
            f"                 {d.lanczos_steps} steps leave {d.negative_fraction_resolution:.0%}"
            " of the weight on the node nearest 0: more --density-steps narrow it"
        )
    mass = outward(*d.negative_mass_interval, None)
    return [*lines, f"negative mass    between {mass}  ((1/p)·Σ|λ| over λ < 0; {run})"]


def outward(lo: float, hi: float, decimals: int | None, unit: str = "") -> str:
    """`lo and hi` rounded outwards (to `decimals` places, or 3 significant digits)."""

    def show(x: float, up: bool) -> str:
        k = decimals if decimals is not None else (2 - math.floor(math.log10(abs(x))) if x else 0)
        r = (math.ceil if up else math.floor)(x * 10**k) / 10**k
        return f"{r:.{max(k, 0)}f}{unit}"

    return f"{show(lo, False)} and {show(hi, True)}"


def layer_table(r: SpectrumReport) -> Table:
    table = Table(title="Per parameter block", title_justify="left")
    traced = r.trace is not None
    columns = ("block", "params", "λ_max", "bound") + (("trace", "stderr") if traced else ())
    for col in columns:
        table.add_column(col, justify="right" if col != "block" else "left")
    for layer in r.per_layer:
        cells = [layer.name, str(layer.num_params), num(layer.lambda_max.value, 8)]
        cells.append(f"{layer.lambda_max.error_bound:.1e}")
        if traced:
            cells += [num(layer.trace.value, 6), f"{layer.trace.stderr:.1e}"]
        table.add_row(*cells)
    return table
