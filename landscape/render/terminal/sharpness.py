"""Terminal report for `landscape sharpness` (its figures: render/figures/sharpness.py)."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from landscape.analyses.sharpness import SharpnessReport
from landscape.render.terminal.common import loss_phrase, num, theta_phrase


def metrics_table(report: SharpnessReport) -> Table:
    table = Table(title="Metrics (the names `landscape gate` uses)", title_justify="left")
    table.add_column("metric", no_wrap=True)
    table.add_column("value", justify="right")
    table.add_column("± bound", justify="right")
    table.add_column("how")
    for name, m in report.metrics.items():
        bound = "" if m.error_bound is None else f"{m.error_bound:.2g}"
        table.add_row(name, num(m.value, 8), bound, m.note)
    return table


def sharpness_view(report: SharpnessReport) -> Group:
    """The heading, the metrics table and the detail lines (plain text, no markup)."""
    r = report
    heading = (
        f"[bold]Sharpness[/] of {loss_phrase(r)} (L = {num(r.loss)}), "
        f"{theta_phrase(r)}, {r.dtype} on {r.device}"
    )
    lines = _curvature_lines(r) + _adam_lines(r) + _perturbation_lines(r)
    for name, why in r.unavailable.items():
        lines.append(f"not computed     {name}: {why}")
    lines.append(
        f"total            {r.products} Hessian-vector products ({r.strategy}), "
        f"{r.gradient_evaluations} gradient evaluations, {r.seconds:.2f} s"
    )
    return Group(heading, metrics_table(r), Text("\n".join(lines)))


def _curvature_lines(r: SharpnessReport) -> list[str]:
    lines = []
    if r.top:
        values = ", ".join(num(e.value, 6) for e in r.top)
        lines.append(f"top eigenvalues  {values}")
    if r.solver:
        s = r.solver
        state = "converged" if s.converged else "NOT converged"
        lines.append(
            f"Lanczos          {state} to tol {s.tol:g}: {s.products} products, "
            f"Krylov dim {s.krylov_dim}, {s.restarts} restarts"
        )
    if r.stability:
        s = r.stability
        limit = "2" if s.limit == 2 else f"{s.limit:.4g}"
        edge = f", largest stable η = {limit}/λ_max = {num(s.edge, 5)}" if s.edge else ""
        method = "" if s.method == "GD" else f", {s.method} ({s.momentum_source})"
        lines.append(f"stability        η = {s.lr:g} ({s.lr_source}){method}{edge}: {s.verdict}")
    return lines


def _adam_lines(r: SharpnessReport) -> list[str]:
    a = r.adam
    if a is None:
        return []
    lines = [
        f"Adam state       β₁ = {a.beta1:g}, β₂ = {a.beta2:g}, ε = {a.eps:g}, step {a.step}, "
        f"η = {a.lr:g}"
    ]
    if a.preconditioned is not None:
        verdict = "stable" if a.margin < 1 else "beyond Adam's edge of stability"
        lines.append(
            f"                 preconditioned sharpness λ_max(D^-1/2 H D^-1/2) = "
            f"{num(a.preconditioned.value, 6)} vs threshold (2+2β₁)/((1−β₁)η) = "
            f"{num(a.threshold, 6)}: margin {num(a.margin, 3)} → {verdict}"
        )
    lines += _unmoved_lines(a)
    if a.fit is not None:
        f = a.fit
        lines.append(
            f"                 √v̂ vs |diag H|: Spearman {f.rank_correlation:.3f}, "
            f"|diag H| ≈ {num(f.scale, 3)}·√v̂ (c·η = {num(f.newton_ratio, 3)}; 1 would "
            f"make Adam's step the diagonal Newton step), spread ×10^{f.log10_spread:.2f}"
            f" (IQR), {f.significant_fraction:.0%} of diag H entries > 2 stderr"
        )
    lines += [f"                 note: {n}" for n in a.notes]
    return lines


def _unmoved_lines(a) -> list[str]:
    """What was done with the coordinates Adam never moved (v̂ = 0)."""
    pad = " " * 17
    if a.keep_unmoved and a.unmoved:
        return [
            f"{pad}all {a.kept} coordinates kept (--adam-keep-unmoved), {a.unmoved} of them "
            "never moved by Adam (v̂ = 0, D = ε)"
        ]
    out = a.left_out
    if out is None:
        return []
    lines = [
        f"{pad}on the {a.kept} coordinates Adam moved: {out.count} with v̂ = 0 (never moved, "
        "e.g. dead units) left out, where Adam's frozen-preconditioner model does not apply "
        "(--adam-keep-unmoved keeps them)"
    ]
    if out.full is not None:
        lines.append(
            f"{pad}with them, λ_max = {num(out.full.value, 6)} ± {out.full.error_bound:.2g} "
            f"(margin {num(out.full.value / a.threshold, 3)}); its top eigenvector has "
            f"{_share(out)} of its mass on them ({out.products} more products)"
        )
    return lines


def _share(out) -> str:
    """The share the bound supports: a point when it pins 4 decimals, else the interval."""
    if out.share_low is None:
        return (
            f"(its Ritz vector) {out.share:.4%}, unbounded: the top eigenvalue is not "
            "separated from the next"
        )
    if out.share_high - out.share_low < 1e-6:
        return f"{out.share:.4%}"
    return f"between {out.share_low:.4%} and {out.share_high:.4%}"


def _perturbation_lines(r: SharpnessReport) -> list[str]:
    lines = []
    if r.eps_sharpness:
        e = r.eps_sharpness
        stop = "KKT point" if e.ascent.kkt else "iterations ran out"
        lines.append(
            f"ε-sharpness      {num(e.percent, 4)}% (ε = {e.epsilon:g}: max ΔL = "
            f"{num(e.increase, 4)} found in {e.ascent.evaluations} evaluations, {stop})"
        )
    if r.adaptive_sharpness:
        a = r.adaptive_sharpness
        lines.append(
            f"adaptive (worst) {num(a.value, 4)} (ρ = {a.rho:g}, ℓ∞ box ρ|θ|, mean over "
            f"{a.chunks} batches of {a.chunk_size}; {a.kkt_fraction:.0%} at a KKT point)"
        )
    if r.average_sharpness:
        a = r.average_sharpness
        lines.append(
            f"adaptive (avg)   {num(a.value, 4)} ± {a.stderr:.2g} stderr (σ = ρ|θ|, "
            f"ρ = {a.rho:g}, {a.samples} antithetic pairs)"
        )
    return lines
