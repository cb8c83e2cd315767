"""Terminal tables and figure for `landscape ggn-gap`."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullLocator
from rich.console import Console
from rich.table import Table

from landscape_cli.analyses.ggn_gap.analysis import GgnGapReport
from landscape_cli.render.terminal.common import num


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
        rows = zip(getattr(r.hessian, end), getattr(r.ggn, end), getattr(r.t, end))
        for i, (h, g, t) in enumerate(rows, 1):
            table.add_row(f"{end} {i}", _pair(h), _pair(g), _pair(t))
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


def print_ggn_gap(r: GgnGapReport, console: Console) -> None:
    console.print(
        f"[bold]H = G + T[/] for the mean {r.num_samples}-example {r.loss_name} loss "
        f"(L = {num(r.context.loss)}), {r.num_params} parameters, {r.dtype} on {r.device}"
    )
    console.print(spectra_table(r))
    if r.ggn.note:
        console.print(f"G: {r.ggn.note}", markup=False)
    console.print(gap_table(r))
    console.print(directions_table(r))
    console.print(fisher_table(r))
    if r.per_layer:
        console.print(layer_table(r))
    products = ", ".join(f"{k} {v}" for k, v in r.products.items() if k != "total")
    console.print(
        f"{r.products['total']} products ({products}; {r.strategy}), {r.seconds:.2f} s",
        markup=False,
    )


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


# ----------------------------------------------------------------------------------- figure
def draw_ggn_gap(r: GgnGapReport, target) -> None:
    """Spectra of H and G side by side, dᵀHd vs dᵀGd per direction, the MC Fisher error."""
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8), gridspec_kw={"width_ratios": [1.1, 1.3, 1]})
    _draw_spectra(r, axes[0])
    _draw_directions(r, axes[1])
    _draw_monte_carlo(r, axes[2])
    fig.tight_layout()
    fig.savefig(target, format="png", dpi=120)
    plt.close(fig)


def _symlog(ax, axis: str, values: list[float], decades: int = 4) -> None:
    """A symmetric log axis spanning `decades` below the largest |value|, ticks at decades
    (negative ones only as far down as the negative values go)."""
    scale = max((abs(v) for v in values), default=0.0) or 1.0
    top = math.ceil(math.log10(scale))
    linthresh = 10.0 ** (top - decades)
    ticks = [0.0]
    for sign in (1, -1):
        largest = max((sign * v for v in values), default=0.0)
        if largest > linthresh or (sign == 1 and largest <= 0):
            last = math.ceil(math.log10(max(largest, linthresh * 10)))
            ticks += [sign * 10.0**e for e in range(top - decades + 1, last + 1)]
    ticks.sort()
    labels = ["0" if t == 0 else f"{t:.0e}".replace("e-0", "e-").replace("e+0", "e") for t in ticks]
    if axis == "y":
        ax.set_yscale("symlog", linthresh=linthresh)
        ax.set_yticks(ticks, labels)
    else:
        ax.set_xscale("symlog", linthresh=linthresh)
        ax.set_xticks(ticks, labels, rotation=45)


def _draw_spectra(r: GgnGapReport, ax) -> None:
    labels = [f"top {i}" for i in range(1, len(r.hessian.top) + 1)]
    labels += [f"bottom {i}" for i in range(1, len(r.hessian.bottom) + 1)]
    x = np.arange(len(labels))
    for shift, spectra, color, name in (
        (-0.2, r.hessian, "C0", "H"),
        (0.0, r.ggn, "C2", "G"),
        (0.2, r.t, "C3", "T = H − G"),
    ):
        pairs = spectra.top + spectra.bottom
        ax.errorbar(
            x + shift,
            [e.value for e in pairs],
            yerr=[e.error_bound for e in pairs],
            fmt="o",
            color=color,
            capsize=3,
            label=name,
        )
    _symlog(ax, "y", [e.value for s in (r.hessian, r.ggn, r.t) for e in s.top + s.bottom])
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_xticks(x, labels, rotation=45, ha="right")
    ax.set_ylabel("eigenvalue (symlog)")
    ax.set_title("extreme eigenvalues of H, G and T (bars: bounds)")
    ax.legend()


def _draw_directions(r: GgnGapReport, ax) -> None:
    names = [d.name for d in r.directions]
    y = np.arange(len(names))
    for shift, key, color, label in (
        (-0.27, "dHd", "C0", "dᵀHd"),
        (0.0, "dGd", "C2", "dᵀGd"),
        (0.27, "dTd", "C3", "dᵀTd"),
    ):
        ax.barh(
            y + shift,
            [getattr(d, key) for d in r.directions],
            height=0.25,
            color=color,
            label=label,
        )
    _symlog(ax, "x", [getattr(d, key) for d in r.directions for key in ("dHd", "dGd", "dTd")])
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel("curvature along d (symlog)")
    ax.set_title("dᵀHd = dᵀGd + dᵀTd per direction")
    ax.legend(loc="lower right")


def _draw_monte_carlo(r: GgnGapReport, ax) -> None:
    pts = [p for p in r.mc_fisher.points if p.relative_error > 0]
    if not pts:
        ax.set_axis_off()
        return
    S = np.array([p.samples for p in pts], dtype=float)
    err = np.array([p.relative_error for p in pts])
    ax.errorbar(
        S, err, yerr=[p.stderr for p in pts], fmt="o-", color="C1", capsize=3, label="MC Fisher"
    )
    ax.loglog(S, err[0] * np.sqrt(S[0] / S), "--", color="0.5", label="1/√S")
    ax.set_xticks(S, [str(int(s)) for s in S])
    ax.xaxis.set_minor_locator(NullLocator())
    ef = r.empirical_fisher.relative_frobenius.value
    ax.axhline(ef, color="C4", ls=":", label="empirical Fisher (not a curvature)")
    values = [v for v in (*err, ef) if v > 0]
    ax.set_ylim(min(values) / 2, max(values) * 2)
    ax.set_xlabel("labels sampled per example S")
    ax.set_ylabel("‖F − G‖_F / ‖G‖_F")
    slope = "" if r.mc_fisher.slope is None else f" (slope {r.mc_fisher.slope:.2f})"
    ax.set_title(f"Fisher estimates against G{slope}")
    ax.legend(loc="lower left")
