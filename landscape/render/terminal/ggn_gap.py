"""Terminal tables for `landscape ggn-gap`."""

from __future__ import annotations

import math

from rich.console import Group
from rich.markup import escape
from rich.table import Table

from landscape.analyses.ggn_gap import GgnGapReport
from landscape.render.terminal.common import loss_phrase, num, theta_phrase


def _pair(e) -> str:
    text = f"{num(e.value, 8)} ± {e.error_bound:.1e}"
    return text if e.converged else f"[red]{text} (not converged)[/]"


def spectra_table(r: GgnGapReport) -> Table:
    method = "dense eigh" if r.exact else "Lanczos"
    table = Table(
        title=f"Extreme eigenvalues ({method}; ± certified bound |λ − θ|)", title_justify="left"
    )
    for col in ("", "H (Hessian)", "G (GGN)", "T = H − G"):
        table.add_column(col, justify="right")
    for end in ("top", "bottom"):
        columns = [getattr(s, end) for s in (r.hessian, r.ggn, r.t)]
        for i in range(max(map(len, columns))):  # a column may list fewer (G's cluster at 0)
            cells = [_pair(c[i]) if i < len(c) else "(not listed)" for c in columns]
            table.add_row(f"{end} {i + 1}", *cells)
    return table


def directions_table(r: GgnGapReport) -> Table:
    table = Table(
        title="Curvature along unit directions d",
        title_justify="left",
        caption="dᵀHd = dᵀGd (loss curvature, through H_L) + dᵀTd (model nonlinearity); "
        "T share = |dᵀTd| / (|dᵀGd| + |dᵀTd|)",
        caption_justify="left",
    )
    table.add_column("direction")
    for col in ("dᵀHd", "dᵀGd", "dᵀTd", "T share"):
        table.add_column(col, justify="right")
    for d in r.directions:
        table.add_row(d.name, num(d.dHd), num(d.dGd), num(d.dTd), f"{d.t_share:.1%}")
    return table


def estimate(value: float, stderr: float) -> str:
    """`value ± stderr` with as many digits as the stderr justifies (exact: 8 digits)."""
    if not stderr:
        return num(value, 8)
    digits = max(2, 2 + int(math.floor(math.log10(abs(value) / stderr)))) if value else 2
    return f"{num(value, digits)} ± {stderr:.2g}"


def gap_table(r: GgnGapReport) -> Table:
    f, c = r.frobenius_gap, r.context
    how = "exact (dense)" if f.method == "exact" else f"{f.probes} Rademacher probes"
    table = Table(title="How much of H the GGN misses", title_justify="left")
    for col, justify in (("figure", "left"), ("value", "right"), ("how / meaning", "left")):
        table.add_column(col, justify=justify)
    table.add_row("‖H − G‖_F / ‖H‖_F", estimate(f.value, f.stderr), how)
    table.add_row(
        "‖H‖_F, ‖G‖_F, ‖T‖_F",
        ", ".join(num(v, 4) for v in (f.hessian_norm, f.ggn_norm, f.t_norm)),
        "same probes" if f.method != "exact" else "exact",
    )
    table.add_row("mean ‖g_z‖", num(c.mean_output_grad_norm, 4), "T is weighted by g_z")
    table.add_row("already fit", f"{c.fit_share:.1%}", c.fit_definition)
    if c.correct_share is not None:
        table.add_row("predicted right", f"{c.correct_share:.1%}", "argmax (or > 0.5) right")
    return table


def fisher_table(r: GgnGapReport) -> Table:
    fc, ef, mc = r.fisher_check, r.empirical_fisher, r.mc_fisher
    table = Table(title="Fisher estimates against G", title_justify="left")
    for col, justify in (("estimate", "left"), ("vs G", "right"), ("note", "left")):
        table.add_column(col, justify=justify)
    how = "dense" if fc.method == "exact" else f"{fc.products} random products"
    table.add_row(
        "exact Fisher F",
        f"{fc.max_relative_difference:.2e}",
        f"max ‖(F − G)v‖ / max ‖Gv‖, {how}; theory: F = G for softmax-CE, sigmoid-BCE, MSE",
    )
    for p in mc.points:
        table.add_row(
            f"Monte-Carlo F, S = {p.samples}",
            estimate(p.relative_error, p.stderr),
            "‖F_S − G‖_F / ‖G‖_F (± probe error)",
        )
    slope = "n/a" if mc.slope is None else f"{mc.slope:.2f}"
    note = f"expected {mc.expected_slope:g} (error ~ 1/√S)"
    if mc.slope is not None and mc.slope > -0.3:
        note += (
            "; not yet in that regime: where examples are fit, sampled labels rarely differ "
            "from the prediction until S·(1 − p_max) ≳ 1 (try --mc-samples 1,16,256,4096)"
        )
    table.add_row("  slope of log error vs log S", slope, note)
    ratio = "n/a" if ef.top_ratio is None else f"{ef.top_ratio:.3g}"
    table.add_row(
        "empirical Fisher EF",
        estimate(ef.relative_frobenius.value, ef.relative_frobenius.stderr),
        f"‖EF − G‖_F / ‖G‖_F; λ_max(EF)/λ_max(G) = {ratio}; [bold]NOT A CURVATURE[/]: "
        "built from the data labels' gradients, it is neither F nor G",
    )
    return table


def ggn_gap_view(r: GgnGapReport) -> Group:
    """The whole terminal report: a header, the tables and the product count (the notes and
    the count escaped, so that they print as they are)."""
    parts = [
        f"[bold]H = G + T[/] for {loss_phrase(r, r.loss_name)} "
        f"(L = {num(r.context.loss)}), {theta_phrase(r)}, {r.dtype} on {r.device}",
        spectra_table(r),
    ]
    if r.ggn.note:
        parts.append(escape(f"G: {r.ggn.note}"))
    parts += [gap_table(r), directions_table(r), fisher_table(r)]
    if r.per_layer:
        parts.append(layer_table(r))
    products = ", ".join(f"{k} {v}" for k, v in r.products.items() if k != "total")
    parts.append(
        escape(f"{r.products['total']} products ({products}; {r.strategy}), {r.seconds:.2f} s")
    )
    return Group(*parts)


def layer_table(r: GgnGapReport) -> Table:
    table = Table(
        title="Per parameter block (diagonal blocks H_bb, G_bb, T_bb)", title_justify="left"
    )
    table.add_column("block")
    for col in ("params", "‖T_bb‖_F/‖H_bb‖_F", "λ_max(T_bb)", "λ_min(T_bb)"):
        table.add_column(col, justify="right")
    for layer in r.per_layer:
        gap = layer.frobenius_gap
        table.add_row(
            layer.name,
            str(layer.num_params),
            estimate(gap.value, gap.stderr),
            _pair(layer.t_top),
            _pair(layer.t_bottom),
        )
    return table
