"""Figures for `landscape sharpness`: spectrum.png and slices.png."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from landscape.analyses.sharpness import SharpnessReport
from landscape.render.figures import save
from landscape.render.figures.spectrum import eigen_errorbars


def draw_spectrum(report: SharpnessReport, target) -> None:
    """Extreme eigenvalues against 2/η; beside them √v̂ against |diag H| when Adam state."""
    fit = report.adam.fit if report.adam else None
    panels = 2 if fit is not None and fit.sqrt_v_hat is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4.2), squeeze=False)
    _eigen_panel(report, axes[0, 0])
    if panels == 2:
        _adam_panel(report, axes[0, 1])
    fig.tight_layout()
    save(fig, target)


def _eigen_panel(report: SharpnessReport, ax) -> None:
    eigen_errorbars(ax, report.top, report.bottom)
    s = report.stability
    if s and report.top:
        limit, top = s.limit / s.lr, max(e.value for e in report.top)
        name = "2/η" if s.limit == 2 else f"{s.limit:.4g}/η"
        if limit <= 3 * top:
            ax.axhline(
                limit, color="C1", ls="--", label=f"{name} = {limit:.4g} ({s.method} stability)"
            )
        else:
            ax.text(
                0.98,
                0.95,
                f"{name} = {limit:.4g} is off the chart (η·λ_max/limit = {s.margin:.2g})",
                transform=ax.transAxes,
                ha="right",
                va="top",
                color="C1",
            )
    ax.set_xticks(range(1, max(len(report.top), len(report.bottom), 1) + 1))
    ax.set_xlabel("index k")
    ax.set_ylabel("Hessian eigenvalue (loss per unit step²)")
    ax.set_title("Hessian: extreme eigenvalues (bars: certified bounds)")
    ax.legend(loc="center right")


def _adam_panel(report: SharpnessReport, ax) -> None:
    f = report.adam.fit
    s = f.sqrt_v_hat.double().numpy()
    h = f.diag_h.abs().double().numpy()
    keep = (s > 0) & (h > 0)
    ax.loglog(s[keep], h[keep], ".", ms=2, alpha=0.4, color="C0")
    grid = np.geomspace(s[keep].min(), s[keep].max(), 50) if keep.any() else np.array([1.0])
    ax.loglog(grid, f.scale * grid, "C1--", label=f"|diag H| = {f.scale:.3g}·√v̂")
    ax.set_xlabel("Adam √v̂ (gradient units)")
    ax.set_ylabel("|diag H| (loss per unit step²" + (", Diag++ estimate)" if not f.exact else ")"))
    ax.set_title(f"√v̂ vs |diag H|: Spearman {f.rank_correlation:.3f}")
    a = report.adam
    if a.preconditioned is not None:
        ax.text(
            0.98,
            0.03,
            f"λ_max(D^-1/2 H D^-1/2) = {a.preconditioned.value:.4g}{_left_out(a)}\n"
            f"Adam threshold (2+2β₁)/((1−β₁)η) = {a.threshold:.4g}",
            ha="right",
            va="bottom",
            transform=ax.transAxes,
            color="C3" if a.margin >= 1 else "C2",
        )
    ax.legend()


def _left_out(a) -> str:
    """Where the coordinates Adam never moved (v̂ = 0, left of the log axis) went."""
    return f"\n({a.left_out.count} with v̂ = 0 left out)" if a.left_out else ""


def draw_slices(report: SharpnessReport, target) -> None:
    """1D loss slices: along the top eigenvector (with its quadratic model) and along
    filter-normalised random directions."""
    slices = report.slices or []
    eigen = [s for s in slices if s.kind == "eigenvector"]
    random = [s for s in slices if s.kind != "eigenvector"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), squeeze=False)
    ax = axes[0, 0]
    for s in eigen:
        ax.plot(s.t, s.loss, "C0-", label="L(θ + t·v₁)")
        if s.quadratic:
            ax.plot(s.t, s.quadratic, "C1--", label="L + t·gᵀv₁ + ½λ_max t²")
    ax.set_xlabel("t (distance along the unit top eigenvector v₁)")
    ax.set_title("along the top Hessian eigenvector")
    _loss_axis(ax, [v for s in eigen for v in s.loss + (s.quadratic or [])])
    if eigen:
        ax.legend()
    ax = axes[0, 1]
    for i, s in enumerate(random):
        ax.plot(s.t, s.loss, f"C{i + 2}-", label=s.label)
    ax.set_xlabel("t (filter-normalised: t = 1 moves each filter by its own norm)")
    _loss_axis(ax, [v for s in random for v in s.loss])
    ax.set_title("along filter-normalised random directions (Li et al. 2018)")
    if random:
        ax.legend()
    fig.tight_layout()
    save(fig, target)


def _loss_axis(ax, values: list[float]) -> None:
    """A log axis when every loss is positive and they span more than a decade."""
    finite = [v for v in values if np.isfinite(v)]
    if finite and min(finite) > 0 and max(finite) > 10 * min(finite):
        ax.set_yscale("log")
        ax.set_ylabel("loss (mean over the examples, log scale)")
    else:
        ax.set_ylabel("loss (mean over the examples)")
