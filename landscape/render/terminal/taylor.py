"""Terminal tables and lines for `landscape taylor-check` (the figure: render/figures)."""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.styled import Styled
from rich.table import Table
from rich.text import Text

from landscape.analyses.taylor import FLOOR_FACTOR, DirectionReport, TaylorReport
from landscape.render.terminal.common import loss_phrase, num, theta_phrase

STATUS_STYLE = {
    "passed": "green",
    "failed": "red",
    "inconclusive": "yellow",
    "kinks": "yellow",
    "not-checked": "cyan",
}
REGIME_STYLE = {
    "asymptotic": "",
    "floor": "dim",
    "non-asymptotic": "yellow",
    "kink": "red",
    "single": "",
}
REGIME_CODE = {"asymptotic": "A", "floor": "F", "non-asymptotic": "N", "kink": "K", "single": "-"}
LEGEND = (
    "reg = regime of R₁/R₂ᴴ/R₂ᴳ: A asymptotic window, F round-off floor (residual below "
    f"{FLOOR_FACTOR:g} × the noise of ΔL), N non-asymptotic, K a kink crossed; "
    "p = observed order against the previous (larger) step"
)


def taylor_view(report: TaylorReport) -> RenderableType:
    """The whole terminal report: header, per direction its table and summary, the legend and
    the verdict."""
    r = report
    parts: list[RenderableType] = [
        f"[bold]Taylor check[/] of {loss_phrase(r)} (L = {num(r.loss, 10)}), "
        f"{theta_phrase(r)}, {r.dtype} on {r.device}; " + steps_phrase(r)
    ]
    for direction in r.directions:
        parts += [step_table(direction), Text.from_markup(direction_summary(direction))]
    parts += [escape(f"skipped {why}") for why in r.skipped]
    parts += [Styled(LEGEND, "dim"), verdict_line(r)]
    return Group(*parts)


def steps_phrase(r: TaylorReport) -> str:
    if r.etas:
        return f"{len(r.etas)} steps η = {r.etas[0]:.3g} … {r.etas[-1]:.3g}"
    return "steps chosen per direction, from the round-off floor up to the third-order term"


def verdict_line(r: TaylorReport) -> str:
    costs = (
        f"{r.loss_evaluations} loss evaluations, {r.hessian_products} Hessian + "
        f"{r.eigen_products} eigenvector + {r.ggn_products} GGN products ({r.strategy}), "
        f"{r.seconds:.2f} s"
    )
    if all(d.status == "not-checked" for d in r.directions):
        return f"a single step: residuals reported, no order judged; {costs}"
    rule = f"R₁ order ≥ {r.thresholds['r1']} and R₂ᴴ order ≥ {r.thresholds['r2_hessian']}"
    if r.verdict == "passed":
        return f"[green]PASSED[/]: {rule} in every direction; {costs}"
    if r.verdict == "failed":
        bad = ", ".join(d.name for d in r.directions if d.status == "failed")
        return f"[red]FAILED[/]: a derivative is wrong along {bad} (see above); {costs}"
    shown = [d.name for d in r.directions if d.status == "passed"]
    unsure = ", ".join(f"{d.name} ({d.status})" for d in r.directions if d.status != "passed")
    where = f"passed along {', '.join(shown)}; " if shown else ""
    return (
        f"[yellow]NO DERIVATIVE ERROR FOUND[/]: {where}not conclusive along {unsure}, which is "
        f"not a derivative failure; {costs}"
    )


def step_table(d: DirectionReport) -> Table:
    """One row per step, narrow enough for 80 columns (ηgᵀd and ½η²dᵀHd are in the JSON)."""
    style = STATUS_STYLE.get(d.status, "")
    etas = [s.eta for s in d.steps]
    table = Table(
        title=f"direction {d.name}: [{style}]{d.status}[/] ({len(etas)} steps, η = "
        f"{max(etas):.3g} … {min(etas):.3g})",
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
    reason = d.reason.removeprefix(f"{d.status}: ")  # a status the reason starts with already
    lines = [f"  [{STATUS_STYLE.get(d.status, '')}]{d.status}[/]: {_escape(reason)}"]
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
            f"crossings counted per step for {', '.join(d.kinks_counted_in)}"
            if d.kinks_counted_in
            else "crossings not counted"
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
