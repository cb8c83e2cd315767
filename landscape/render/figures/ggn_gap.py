"""The figure for `landscape ggn-gap`: spectra, curvature per direction, Fisher estimates."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullLocator

from landscape.analyses.ggn_gap import GgnGapReport
from landscape.render.figures import save


def draw_ggn_gap(r: GgnGapReport, target) -> None:
    """Spectra of H and G side by side, dᵀHd vs dᵀGd per direction, the MC Fisher error."""
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8), gridspec_kw={"width_ratios": [1.1, 1.3, 1]})
    _draw_spectra(r, axes[0])
    _draw_directions(r, axes[1])
    _draw_monte_carlo(r, axes[2])
    fig.tight_layout()
    save(fig, target)


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
        pairs = spectra.top + spectra.bottom  # G may list fewer at the bottom (a cluster)
        at = [
            *range(len(spectra.top)),
            *range(len(r.hessian.top), len(r.hessian.top) + len(spectra.bottom)),
        ]
        ax.errorbar(
            np.array(at) + shift,
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
    ax.set_ylabel("eigenvalue (loss per unit step², symlog)")
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
    ax.set_xscale("linear")  # lengths are shares: a 1% dᵀTd bar is 1% of the dᵀHd bar
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel("curvature along the unit direction d (loss per unit step², linear)")
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
    ax.set_ylabel("‖F − G‖_F / ‖G‖_F (relative, no unit)")
    slope = "" if r.mc_fisher.slope is None else f" (slope {r.mc_fisher.slope:.2f})"
    ax.set_title(f"Fisher estimates against G{slope}")
    ax.legend(loc="lower left")
