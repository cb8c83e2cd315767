"""Terminal reports for `landscape surface` and `landscape interpolate` (their figures:
render/figures/surface.py)."""

from __future__ import annotations

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from landscape.analyses.surface import InterpolationReport, SurfaceReport
from landscape.render.terminal.common import loss_phrase, num, theta_phrase

SHOWN = 5  # grid values per axis in the terminal's sample of the surface
ROWS = 11  # rows of a line (1D surface or interpolation) in the terminal


def _picks(n: int, shown: int) -> list[int]:
    """`shown` indices spread evenly over range(n), both ends included."""
    if n <= shown:
        return list(range(n))
    return sorted({round(i * (n - 1) / (shown - 1)) for i in range(shown)})


# --------------------------------------------------------------------------- surface
def surface_view(report: SurfaceReport) -> Group:
    r = report
    lo, hi = r.range
    shape = (
        f"{len(r.x)}×{len(r.x)} grid over [{lo:g}, {hi:g}]²"
        if r.dims == 2
        else (f"line of {len(r.x)} points over [{lo:g}, {hi:g}]")
    )
    heading = (
        f"[bold]Loss surface[/] of {loss_phrase(r)} (L = {num(r.center_loss)}) on a {shape}, "
        f"{theta_phrase(r)}, {r.dtype} on {r.device}"
    )
    parts = [heading, directions_table(r)]
    parts.append(grid_table(r) if r.dims == 2 else line_table(r))
    parts.append(Text("\n".join(_surface_lines(r))))
    return Group(*parts)


def directions_table(r: SurfaceReport) -> Table:
    table = Table(title="Directions", title_justify="left")
    table.add_column("axis")
    table.add_column("direction")
    table.add_column("‖d‖", justify="right")
    table.add_column("‖d‖/‖θ‖", justify="right")
    table.add_column("gᵀd", justify="right")
    table.add_column("dᵀHd", justify="right")
    table.add_column("± bound", justify="right")
    for i, d in enumerate(r.directions):
        bound = f"{d.eigenpair.error_bound:.2g}" if d.eigenpair is not None else ""
        table.add_row(
            "st"[i] if r.dims == 2 else "t",
            escape(d.label),
            num(d.norm, 5),
            num(d.relative_norm, 4),
            num(r.slopes[i], 5),
            num(r.curvature[i][i], 6),
            bound,
        )
    return table


def grid_table(r: SurfaceReport) -> Table:
    """A sample of the grid: rows s, columns t; * marks the points inside the trust region."""
    rows, cols = _picks(len(r.x), SHOWN), _picks(len(r.y), SHOWN)
    table = Table(
        title="Loss on the grid (rows s, columns t; * inside the trust region)",
        title_justify="left",
    )
    table.add_column("s \\ t", justify="right")
    for j in cols:
        table.add_column(f"{r.y[j]:.3g}", justify="right")
    for i in rows:
        cells = [_cell(r.loss[i][j], r.trust_region.inside[i][j]) for j in cols]
        table.add_row(f"{r.x[i]:.3g}", *cells)
    return table


def line_table(r: SurfaceReport) -> Table:
    table = Table(title="Loss along the line", title_justify="left")
    for name in ("t", "loss", "quadratic model", "|model − L|/L"):
        table.add_column(name, justify="right")
    for i in _picks(len(r.x), ROWS):
        loss, quad = r.loss[i], r.quadratic[i]
        table.add_row(f"{r.x[i]:.3g}", num(loss), num(quad), _relative(quad, loss))
    return table


def _cell(value: float, inside: bool) -> str:
    return f"{num(value)}{'*' if inside else ' '}"


def _relative(model: float, loss: float) -> str:
    return num(abs(model - loss) / abs(loss), 3) if loss else "n/a"


def _surface_lines(r: SurfaceReport) -> list[str]:
    m, t = r.minimum, r.trust_region
    where = f"(s, t) = ({m.x:.3g}, {m.y:.3g})" if m.y is not None else f"t = {m.x:.3g}"
    model = "L + s·gᵀd₁ + t·gᵀd₂ + ½[s t]·DᵀHD·[s t]ᵀ" if r.dims == 2 else "L + t·gᵀd + ½t²·dᵀHd"
    lines = [f"minimum (grid)   L = {num(m.loss)} at {where}"]
    if r.dims == 2:
        c = r.curvature
        lines.append(
            f"quadratic model  {model}, DᵀHD = [[{num(c[0][0], 5)}, {num(c[0][1], 5)}], "
            f"[{num(c[1][0], 5)}, {num(c[1][1], 5)}]]"
        )
    else:
        lines.append(f"quadratic model  {model}")
    reach = (
        "on the whole grid"
        if t.whole_grid
        else f"at every grid point closer to θ than {t.radius:.3g}"
        + (" in (s, t)" if r.dims == 2 else "")
    )
    lines.append(
        f"trust region     |model − L| ≤ {t.tolerance:.0%} of L {reach} "
        f"({t.share:.0%} of the grid's points inside)"
    )
    e = r.evaluation
    per_pass = f"{e.points_per_pass} points per pass" if e.mode == "vmap" else "one at a time"
    lines.append(
        f"evaluation       {e.points} points, {e.mode} ({per_pass}; {e.note}), "
        f"{e.reductions} passes over the data, {e.seconds:.2f} s"
    )
    if r.solver is not None:
        s = r.solver
        state = "converged" if s.converged else "NOT converged"
        lines.append(f"Lanczos          {state} to tol {s.tol:g}: {s.products} products")
    lines.append(
        f"total            {r.products} Hessian-vector products ({r.strategy}), {r.seconds:.2f} s"
    )
    return lines


# ----------------------------------------------------------------------- interpolate
def interpolate_view(report: InterpolationReport) -> Group:
    r = report
    a, b = r.endpoints
    heading = (
        f"[bold]Interpolation[/] {escape(a.path)} (α = 0) → {escape(b.path)} (α = 1) of "
        f"{loss_phrase(r)}, {theta_phrase(r)}, {r.dtype} on {r.device}"
    )
    return Group(heading, alpha_table(r), Text("\n".join(_interpolation_lines(r))))


def alpha_table(r: InterpolationReport) -> Table:
    table = Table(title="Along the segment θ(α) = (1 − α)·θ_A + α·θ_B", title_justify="left")
    names = ["α", "loss"] + (["accuracy"] if r.accuracy is not None else [])
    for name in [*names, "Taylor from A", "Taylor from B"]:
        table.add_column(name, justify="right")
    for i in _picks(len(r.alphas), ROWS if len(r.alphas) > 21 else len(r.alphas)):
        row = [f"{r.alphas[i]:.3g}", num(r.loss[i])]
        if r.accuracy is not None:
            row.append(f"{r.accuracy[i]:.4f}")
        row += [num(r.taylor.from_a[i]), num(r.taylor.from_b[i])]
        table.add_row(*row)
    return table


def _interpolation_lines(r: InterpolationReport) -> list[str]:
    bar = r.barrier
    share = f" ({bar.relative:.1%} of max(L(0), L(1)))" if bar.relative is not None else ""
    if bar.value > 0:
        barrier = f"barrier          {num(bar.value)} at α = {bar.alpha:.3g}{share}"
    else:
        barrier = "barrier          0: the loss stays on or below the chord (linearly connected)"
    lines = [barrier]
    for end in r.endpoints:
        name = "A" if end.alpha == 0 else "B"
        acc = f", accuracy {end.accuracy:.4f}" if end.accuracy is not None else ""
        lines.append(
            f"end {name}            L = {num(end.loss, 8)}{acc}, gᵀΔ = {num(end.slope, 6)}, "
            f"ΔᵀHΔ = {num(end.curvature, 6)}"
        )
    fixed = f"; {r.fixed_tensors} parameters outside θ stay A's" if r.fixed_tensors else ""
    lines.append(
        f"distance         ‖θ_B − θ_A‖ = {num(r.distance, 6)} ({r.relative_distance:.3g} of "
        f"‖θ_A‖); buffers {r.buffers}{fixed}"
    )
    lines.append(
        f"total            {len(r.alphas)} + 2 loss evaluations, 2 gradients, {r.products} "
        f"Hessian-vector products ({r.strategy}), {r.seconds:.2f} s"
    )
    return lines
