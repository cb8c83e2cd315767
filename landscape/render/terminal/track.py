"""Terminal report for `landscape track`: one row per checkpoint, in the order used."""

from __future__ import annotations

from pathlib import Path

from rich.console import Group
from rich.table import Table
from rich.text import Text

from landscape.analyses.track import Row, TrackReport
from landscape.render.terminal.common import num, pm


def pair(pairs) -> str:
    """The first eigenpair with its bound; one the solver did not certify says so."""
    if not pairs:
        return ""
    e = pairs[0]
    return pm(e.value, e.error_bound) + ("" if e.converged else " (not certified)")


def edge(row: Row) -> str:
    if row.edge is None:
        return ""
    name = "2/η" if row.momentum in (None, "GD") else row.momentum
    return f"{num(row.edge, 5)} ({name}, η = {row.lr:g})"


def proxy(row: Row) -> str:
    p = row.proxy
    if p is None or p.value is None:
        return ""
    return pm(p.value, p.error_bound)


def adam(row: Row) -> str:
    a = row.adam
    if a is None or a.value is None:
        return ""
    shown = pm(a.value, a.error_bound) + ("" if a.converged else " (not certified)")
    return f"{shown} / {num(a.threshold, 5)}"


def cost(row: Row) -> str:
    if row.cached:
        return "cached"
    return f"{row.products} ({'warm' if row.warm else 'cold'})"


COLUMNS = {  # header: (cell, wanted when any row has it)
    "λ_max ± bound": lambda r: pair(r.top),
    "λ_min ± bound": lambda r: pair(r.bottom),
    "edge": edge,
    "proxy 2/η_c": proxy,
    "Adam λ_max / edge": adam,
    "loss": lambda r: num(r.loss) if r.loss is not None else "",
}


def track_view(report: TrackReport) -> Group:
    rows = report.checkpoints
    shown = {h: cell for h, cell in COLUMNS.items() if any(cell(r) for r in rows)}
    table = Table(title_justify="left")
    table.add_column("step", justify="right", no_wrap=True)
    table.add_column("checkpoint", no_wrap=True)
    for header in shown:
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("products", justify="right", no_wrap=True)
    for r in rows:
        name = Path(r.path).name
        if r.error is not None:
            table.add_row(_step(r), name, f"[red]failed:[/] {r.error}")
            continue
        table.add_row(_step(r), name, *(cell(r) for cell in shown.values()), cost(r))
    heading = (
        f"[bold]Curvature over {len(rows)} checkpoints[/] ({report.num_params} parameters, "
        f"ordered by {report.order}, tol {report.tol:g}, "
        f"{'warm starts' if report.warm else 'cold starts'})"
    )
    total = f"total {report.products} Hessian-vector products, {report.seconds:.2f} s"
    cached = sum(r.cached for r in rows)
    if cached:
        total += f" ({cached} rows read from the cache: their products were spent earlier)"
    failed = f"; {len(report.failed)} checkpoint(s) failed" if report.failed else ""
    return Group(heading, table, Text(total + failed))


def _step(r: Row) -> str:
    return "" if r.step is None else str(r.step)
