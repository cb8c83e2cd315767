"""Figure for `landscape track`: λ_max against the step, with its bounds, the stability
edge 2/η, the critical-sharpness proxy and Adam's preconditioned λ_max against its own edge."""

from __future__ import annotations

import matplotlib.pyplot as plt

from landscape.analyses.track import TrackReport
from landscape.render.figures import save


def draw_track(report: TrackReport, target) -> None:
    rows = [r for r in report.checkpoints if r.error is None]
    by_step = all(r.step is not None for r in rows)
    x_of = {id(r): (r.step if by_step else i) for i, r in enumerate(rows)}
    fig, ax = plt.subplots(figsize=(7, 4.4))
    with_top = [r for r in rows if r.top]
    if with_top:
        ax.errorbar(
            [x_of[id(r)] for r in with_top], [r.top[0].value for r in with_top],
            yerr=[r.top[0].error_bound for r in with_top], fmt="o-", color="C0", capsize=3,
            label="λ_max (certified, ± bound)",
        )  # fmt: skip
        loose = [r for r in with_top if not r.top[0].converged]
        if loose:
            ax.plot([x_of[id(r)] for r in loose], [r.top[0].value for r in loose], "x",
                    color="red", ms=9, label="not certified")  # fmt: skip
    _line(ax, rows, x_of, lambda r: r.edge, "C1", "--", "2/η (stability edge)")
    proxied = [r for r in rows if r.proxy and r.proxy.value is not None]
    if proxied:
        ax.plot([x_of[id(r)] for r in proxied], [r.proxy.value for r in proxied], "s:",
                color="C2", label="proxy 2/η_c (line search)")  # fmt: skip
    adam = [r for r in rows if r.adam and r.adam.value is not None]
    if adam:
        ax.plot([x_of[id(r)] for r in adam], [r.adam.value for r in adam], "d-", color="C3",
                label="Adam preconditioned λ_max")  # fmt: skip
        _line(ax, adam, x_of, lambda r: r.adam.threshold, "C3", "--", "Adam's edge")
    ax.set_xlabel("step" if by_step else f"checkpoint (by {report.order})")
    ax.set_ylabel("curvature")
    ax.set_title(f"Curvature over {len(rows)} checkpoints")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, target)


def _line(ax, rows, x_of, value, color, style, label) -> None:
    have = [r for r in rows if value(r) is not None]
    if have:
        ax.step([x_of[id(r)] for r in have], [value(r) for r in have], where="post",
                color=color, ls=style, label=label)  # fmt: skip
