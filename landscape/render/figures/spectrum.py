"""The figure of `landscape spectrum`: extreme eigenvalues with their bounds, and the density."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from landscape.analyses.spectrum import SpectrumReport
from landscape.render.figures import save
from landscape.render.terminal.spectrum import outward


def draw_spectrum(report: SpectrumReport, target) -> None:
    """Extreme eigenvalues with error bars; the density beside them when computed."""
    panels = 2 if report.density else 1
    fig, axes = plt.subplots(
        1, panels, figsize=(6 * panels, 4.5), squeeze=False, layout="constrained"
    )
    ax = axes[0, 0]
    eigen_errorbars(ax, report.top, report.bottom)
    values = [abs(e.value) for e in report.top + report.bottom if e.value != 0]
    if values and max(values) > 100 * min(values):  # both ends visible on one axis
        ax.set_yscale("symlog", linthresh=min(values))
    pad_limits(ax, report.top + report.bottom)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("index k")
    ax.set_ylabel("eigenvalue (loss per unit step²)")
    ax.set_title(f"{report.curvature}: extreme eigenvalues (bars: certified bounds)")
    legend_below(ax, columns=2)
    if report.density:
        draw_density(report.density, axes[0, 1], report.curvature, certified_range(report))
    save(fig, target)


MARGIN = 0.08  # share of the axis left free beyond the outermost bar, each side


def pad_limits(ax, pairs) -> None:
    """y limits that hold every value and its bar with MARGIN to spare, measured on the axis'
    own scale (a linear margin is no margin on a symlog axis: the top point sat on the edge)."""
    if not pairs:
        return
    ends = [e.value - e.error_bound for e in pairs] + [e.value + e.error_bound for e in pairs]
    ends.append(0.0)  # the zero line is drawn
    scale = ax.yaxis.get_transform()
    low, high = scale.transform(np.array([[min(ends)], [max(ends)]]))[:, 0]
    pad = MARGIN * (high - low) if high > low else 1.0
    limits = scale.inverted().transform(np.array([[low - pad], [high + pad]]))[:, 0]
    ax.set_ylim(*limits)


def legend_below(ax, columns: int = 1) -> None:
    """The legend under the axes, outside them (the constrained layout makes room): it never
    covers a point and never runs off the figure."""
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.14),
        ncols=columns,
        frameon=False,
        fontsize="small",
    )


def eigen_errorbars(ax, top, bottom) -> None:
    """Top and bottom eigenvalues against their index, with their certified bounds as bars."""
    for pairs, color, label in ((top, "C0", "top"), (bottom, "C3", "bottom")):
        if pairs:
            x = np.arange(1, len(pairs) + 1)
            values, bounds = [e.value for e in pairs], [e.error_bound for e in pairs]
            ax.errorbar(x, values, yerr=bounds, fmt="o", color=color, capsize=3, label=label)
    ax.axhline(0, color="0.6", lw=0.8)


def certified_range(report) -> tuple[float, float] | None:
    """[λ_min − bound, λ_max + bound] from the certified extreme eigenpairs: every eigenvalue
    lies in it (both ends needed; None when one was not computed)."""
    if not report.top or not report.bottom:
        return None
    low = min(e.value - e.error_bound for e in report.bottom)
    high = max(e.value + e.error_bound for e in report.top)
    return low, high


def draw_density(density, ax, name: str, certified: tuple[float, float] | None = None) -> None:
    """The SLQ density, its negative part shaded. The Gaussian smoothing spreads each node
    beyond the spectrum; where the certified range is known, the curve is drawn only inside
    it and its ends are marked (no eigenvalue lies outside)."""
    grid, values = np.asarray(density.grid), np.asarray(density.density)
    if certified is not None:
        inside = (grid >= certified[0]) & (grid <= certified[1])
        grid, values = grid[inside], values[inside]
        for end in certified:
            ax.axvline(end, color="C2", ls="--", lw=0.9)
        ax.plot([], [], color="C2", ls="--", lw=0.9, label="certified [λ_min, λ_max] ± bounds")
        ax.set_xlim(*certified)
    ax.semilogy(grid, np.maximum(values, 1e-12), color="C0")
    ax.axvline(0, color="0.6", lw=0.8)
    ax.fill_between(
        grid,
        1e-12,
        np.maximum(values, 1e-12),
        where=grid < 0,
        color="C3",
        alpha=0.3,
        label=f"negative: {share_range(density)} of eigenvalues",
    )
    if len(values):
        ax.set_ylim(bottom=max(1e-8, values.max() * 1e-8))
    ax.set_xlabel("eigenvalue λ (loss per unit step²)")
    ax.set_ylabel("density (share of eigenvalues per unit λ)")
    ax.set_title(f"{name}: spectral density (SLQ, {density.num_starts} starts)")
    legend_below(ax)


def share_range(density) -> str:
    """The negative share's interval, its ends rounded outwards to whole percents."""
    lo, hi = density.negative_fraction_interval
    return outward(100 * lo, 100 * hi, 0, "%").replace(" and ", " to ")
