"""Figures for `landscape surface` (surface.png) and `landscape interpolate` (interpolate.png)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from landscape.analyses.surface import InterpolationReport, SurfaceReport


def draw_surface(report: SurfaceReport, target) -> None:
    """2D: filled contour with labelled levels, the trust region's outline, θ and the grid
    minimum, beside a 3D surface; 1D: the loss and the quadratic model along the line."""
    if report.dims == 1:
        _draw_line(report, target)
        return
    r = report
    s, t = np.meshgrid(np.array(r.x), np.array(r.y), indexing="ij")
    loss = np.array(r.loss, dtype=float)
    shown = np.log10(np.clip(loss, 1e-300, None)) if r.log else loss
    label = "log₁₀ loss" if r.log else "loss"
    fig = plt.figure(figsize=(13, 5.2))
    ax = fig.add_subplot(1, 2, 1)
    levels = np.linspace(np.nanmin(shown), np.nanmax(shown), 16)
    filled = ax.contourf(s, t, shown, levels=levels, cmap="viridis")
    lines = ax.contour(s, t, shown, levels=levels[::3], colors="white", linewidths=0.7)
    ax.clabel(lines, fmt="%.3g", fontsize=7)
    fig.colorbar(filled, ax=ax, label=label)
    inside = np.array(r.trust_region.inside, dtype=float)
    if 0 < inside.sum() < inside.size:
        ax.contour(s, t, inside, levels=[0.5], colors="C3", linewidths=1.6, linestyles="--")
        ax.plot(
            [], [], "C3--", label=f"trust region (quadratic within {r.trust_region.tolerance:.0%})"
        )
    ax.plot([0], [0], "w+", ms=12, mew=2, label="θ")
    ax.plot([r.minimum.x], [r.minimum.y], "r*", ms=11, label=f"grid minimum {r.minimum.loss:.4g}")
    ax.set_xlabel(f"s: {r.directions[0].label}")
    ax.set_ylabel(f"t: {r.directions[1].label}")
    ax.set_title("L(θ + s·d₁ + t·d₂)")
    ax.legend(loc="upper right", fontsize=8, framealpha=0.8)
    ax3 = fig.add_subplot(1, 2, 2, projection="3d")
    ax3.plot_surface(s, t, shown, cmap="viridis", linewidth=0, antialiased=True, alpha=0.95)
    ax3.set_xlabel("s")
    ax3.set_ylabel("t")
    ax3.set_zlabel(label)
    ax3.set_title("the same surface")
    fig.tight_layout()
    fig.savefig(target, format="png", dpi=100)
    plt.close(fig)


def _draw_line(r: SurfaceReport, target) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.2))
    x = np.array(r.x)
    loss, quad = np.array(r.loss, dtype=float), np.array(r.quadratic, dtype=float)
    ax.plot(x, loss, "C0-", label="L(θ + t·d)")
    ax.plot(x, quad, "C1--", label="L + t·gᵀd + ½t²·dᵀHd")
    inside = np.array(r.trust_region.inside, dtype=bool)
    if inside.any():
        ax.fill_between(
            x,
            0,
            1,
            where=inside,
            color="C2",
            alpha=0.12,
            transform=ax.get_xaxis_transform(),
            label=f"trust region (within {r.trust_region.tolerance:.0%})",
        )
    top = np.nanmax(loss)
    ax.set_ylim(*_limits(np.concatenate([loss, np.clip(quad, None, 2 * top)])))
    if r.log and (loss > 0).all():
        ax.set_yscale("log")
    ax.set_xlabel(f"t: {r.directions[0].label}")
    ax.set_ylabel("loss")
    ax.set_title("the loss along a line through θ, with its quadratic model")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(target, format="png", dpi=100)
    plt.close(fig)


def _limits(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    lo, hi = float(finite.min()), float(finite.max())
    pad = 0.05 * (hi - lo or abs(hi) or 1.0)
    return lo - pad, hi + pad


def draw_interpolation(report: InterpolationReport, target) -> None:
    """The loss on the segment, its ends, the chord and the barrier, and both ends' Taylor
    parabolas (clipped to the curve's range); accuracy on the right axis when there is one."""
    r = report
    a = np.array(r.alphas)
    loss = np.array(r.loss, dtype=float)
    fig, ax = plt.subplots(figsize=(8, 4.6))
    ax.plot(a, loss, "C0-", lw=2, label="L(θ(α))")
    ends = r.endpoints
    ax.plot([0, 1], [ends[0].loss, ends[1].loss], "k:", lw=1, label="chord (1 − α)L(0) + αL(1)")
    ax.plot([0, 1], [ends[0].loss, ends[1].loss], "ko", ms=6)
    for end, name in zip(ends, ("A", "B"), strict=True):
        ax.annotate(
            name, (end.alpha, end.loss), textcoords="offset points", xytext=(0, 8), ha="center"
        )
    ax.plot(a, r.taylor.from_a, "C1--", label="Taylor from A: L + αgᵀΔ + ½α²ΔᵀHΔ")
    ax.plot(a, r.taylor.from_b, "C2--", label="Taylor from B")
    bar = r.barrier
    if bar.value > 0:
        chord = (1 - bar.alpha) * ends[0].loss + bar.alpha * ends[1].loss
        ax.annotate(
            "",
            (bar.alpha, chord + bar.value),
            (bar.alpha, chord),
            arrowprops={"arrowstyle": "<->", "color": "C3"},
        )
        ax.text(
            bar.alpha, chord + bar.value / 2, f"  barrier {bar.value:.4g}", color="C3", va="center"
        )
    span = loss.max() - loss.min() or abs(loss.max()) or 1.0
    ax.set_ylim(loss.min() - 0.15 * span, loss.max() + 0.25 * span)
    ax.set_xlabel("α")
    ax.set_ylabel("loss")
    buffers = "no buffers" if r.buffers == "none" else f"buffers {r.buffers}"
    ax.set_title(f"between the checkpoints ({buffers})")
    if r.accuracy is not None:
        right = ax.twinx()
        right.plot(a, r.accuracy, "C4-", alpha=0.5, lw=1)
        right.set_ylabel("accuracy", color="C4")
        right.tick_params(axis="y", colors="C4")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(target, format="png", dpi=100)
    plt.close(fig)
