"""Terminal tables and figure for `landscape ggn-gap`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from rich.console import Console
from rich.table import Table

from ..analyses.ggn_gap import GgnGapReport
from .common import num, pm


def _pair(e) -> str:
    text = f"{num(e.value, 8)} ± {e.error_bound:.1e}"
    return text if e.converged else f"[red]{text} (not converged)[/]"


def spectra_table(r: GgnGapReport) -> Table:
    method = "dense eigh" if r.exact else "Lanczos"
    table = Table(title=f"Extreme eigenvalues ({method}; ± certified bound |λ − θ|)",
                  title_justify="left")
    for col in ("", "H (Hessian)", "G (GGN)", "T = H − G"):
        table.add_column(col, justify="right")
    for end in ("top", "bottom"):
        rows = zip(getattr(r.hessian, end), getattr(r.ggn, end), getattr(r.t, end))
        for i, (h, g, t) in enumerate(rows, 1):
            table.add_row(f"{end} {i}", _pair(h), _pair(g), _pair(t))
    return table


def directions_table(r: GgnGapReport) -> Table:
    table = Table(title="Along unit directions d: dᵀHd = dᵀGd (loss curvature) + dᵀTd "
                  "(model nonlinearity)", title_justify="left")
    table.add_column("direction")
    for col in ("dᵀHd", "dᵀGd", "dᵀTd", "T share"):
        table.add_column(col, justify="right")
    for d in r.directions:
        table.add_row(d.name, num(d.dHd), num(d.dGd), num(d.dTd), f"{d.t_share:.1%}")
    return table


def fisher_lines(r: GgnGapReport) -> list[str]:
    fc, ef = r.fisher_check, r.empirical_fisher
    how = "dense" if fc.method == "exact" else f"{fc.products} random products"
    lines = [
        f"exact Fisher vs G     max ‖(F − G)v‖/max ‖Gv‖ = {fc.max_relative_difference:.2e} "
        f"({how}; theory: F = G for softmax-CE, sigmoid-BCE, MSE)",
    ]
    mc = "  ".join(f"S={p.samples}: {p.relative_error:.3g}±{p.stderr:.1g}"
                   for p in r.mc_fisher.points)
    slope = "n/a" if r.mc_fisher.slope is None else f"{r.mc_fisher.slope:.2f}"
    lines.append(f"Monte-Carlo Fisher    ‖F_S − G‖_F/‖G‖_F  {mc}")
    lines.append(f"                      slope of log error vs log S = {slope} "
                 f"(expected {r.mc_fisher.expected_slope:g}: error ~ 1/√S)")
    ratio = "n/a" if ef.top_ratio is None else f"{ef.top_ratio:.3g}"
    lines.append(
        f"empirical Fisher      ‖EF − G‖_F/‖G‖_F = "
        f"{pm(ef.relative_frobenius.value, ef.relative_frobenius.stderr or None)}; "
        f"λ_max(EF)/λ_max(G) = {ratio}"
    )
    lines.append(f"                      NOT A CURVATURE: {ef.note}")
    return lines


def print_ggn_gap(r: GgnGapReport, console: Console) -> None:
    console.print(
        f"[bold]H = G + T[/] for the mean {r.num_samples}-example {r.loss_name} loss "
        f"(L = {num(r.context.loss)}), {r.num_params} parameters, {r.dtype} on {r.device}"
    )
    console.print(spectra_table(r))
    f = r.frobenius_gap
    how = "exact, dense" if f.method == "exact" else f"{f.probes} Rademacher probes"
    c = r.context
    correct = "" if c.correct_share is None else f"; predicted right: {c.correct_share:.1%}"
    lines = [
        f"Frobenius gap         ‖H − G‖_F/‖H‖_F = {pm(f.value, f.stderr or None)}  ({how}; "
        f"‖H‖_F = {num(f.hessian_norm)}, ‖G‖_F = {num(f.ggn_norm)}, ‖T‖_F = {num(f.t_norm)})",
        f"residuals             mean ‖g_z‖ = {num(c.mean_output_grad_norm)} (T scales with "
        f"them); already fit: {c.fit_share:.1%} ({c.fit_definition}){correct}",
    ]
    console.print("\n".join(lines), markup=False)
    console.print(directions_table(r))
    console.print("\n".join(fisher_lines(r)), markup=False)
    if r.per_layer:
        console.print(layer_table(r))
    products = ", ".join(f"{k} {v}" for k, v in r.products.items() if k != "total")
    console.print(f"products              {r.products['total']} ({products}; {r.strategy}), "
                  f"{r.seconds:.2f} s", markup=False)


def layer_table(r: GgnGapReport) -> Table:
    table = Table(title="Per parameter block (diagonal blocks H_bb, G_bb, T_bb)",
                  title_justify="left")
    table.add_column("block")
    for col in ("params", "‖T_bb‖_F/‖H_bb‖_F", "λ_max(T_bb)", "λ_min(T_bb)"):
        table.add_column(col, justify="right")
    for layer in r.per_layer:
        gap = layer.frobenius_gap
        table.add_row(layer.name, str(layer.num_params), pm(gap.value, gap.stderr or None),
                      _pair(layer.t_top), _pair(layer.t_bottom))
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


def _draw_spectra(r: GgnGapReport, ax) -> None:
    labels = [f"top {i}" for i in range(1, len(r.hessian.top) + 1)]
    labels += [f"bottom {i}" for i in range(1, len(r.hessian.bottom) + 1)]
    x = np.arange(len(labels))
    for shift, spectra, color, name in ((-0.2, r.hessian, "C0", "H"), (0.0, r.ggn, "C2", "G"),
                                        (0.2, r.t, "C3", "T = H − G")):
        pairs = spectra.top + spectra.bottom
        ax.errorbar(x + shift, [e.value for e in pairs], yerr=[e.error_bound for e in pairs],
                    fmt="o", color=color, capsize=3, label=name)
    scale = max(abs(e.value) for e in r.hessian.top + r.hessian.bottom + r.ggn.top) or 1.0
    ax.set_yscale("symlog", linthresh=scale * 1e-3)
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_xticks(x, labels, rotation=45, ha="right")
    ax.set_ylabel("eigenvalue (symlog)")
    ax.set_title("extreme eigenvalues of H, G and T (bars: bounds)")
    ax.legend()


def _draw_directions(r: GgnGapReport, ax) -> None:
    names = [d.name for d in r.directions]
    y = np.arange(len(names))
    for shift, key, color, label in ((-0.27, "dHd", "C0", "dᵀHd"), (0.0, "dGd", "C2", "dᵀGd"),
                                     (0.27, "dTd", "C3", "dᵀTd")):
        ax.barh(y + shift, [getattr(d, key) for d in r.directions], height=0.25, color=color,
                label=label)
    scale = max([abs(d.dHd) for d in r.directions] + [abs(d.dGd) for d in r.directions]) or 1.0
    ax.set_xscale("symlog", linthresh=scale * 1e-3)
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
    ax.errorbar(S, err, yerr=[p.stderr for p in pts], fmt="o-", color="C1", capsize=3,
                label="MC Fisher")
    ax.loglog(S, err[0] * np.sqrt(S[0] / S), "--", color="0.5", label="1/√S")
    ef = r.empirical_fisher.relative_frobenius.value
    ax.axhline(ef, color="C4", ls=":", label="empirical Fisher (not a curvature)")
    ax.set_xlabel("labels sampled per example S")
    ax.set_ylabel("‖F − G‖_F / ‖G‖_F")
    slope = "" if r.mc_fisher.slope is None else f" (slope {r.mc_fisher.slope:.2f})"
    ax.set_title(f"Fisher estimates against G{slope}")
    ax.legend()
