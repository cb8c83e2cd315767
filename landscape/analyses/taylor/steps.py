"""Residuals per step, observed orders, asymptotic windows and what they measure.

A `Residuals` row holds what one step measured; the windows, regimes and verdicts are read
off the rows, and each row becomes a `TaylorStep` of the report once its regimes are known."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from landscape.analyses.taylor.report import Decomposition, TaylorStep
from landscape.analyses.taylor.settings import (
    FIT_STEPS,
    FLOOR_FACTOR,
    ORDER_DRIFT,
    TRUST_SHARE,
)

RESIDUALS = ("r1", "r2_hessian", "r2_ggn")


@dataclass(frozen=True)
class Residuals:
    """One step's predictions and residuals (a TaylorStep without orders and regimes)."""

    eta: float
    delta_loss: float
    first_order: float
    second_order_hessian: float
    second_order_ggn: float
    r0: float
    r1: float
    r2_hessian: float
    r2_ggn: float
    noise: float
    kinks: int | None


def residual_rows(line, etas, samples, dec: Decomposition, sigma: float) -> list[Residuals]:
    rows = []
    for eta, (dl, first, kinks) in zip(etas, samples, strict=True):
        q_h, q_g = eta * eta * dec.half_hessian, eta * eta * dec.half_ggn
        scale = abs(line.base) + abs(line.base + dl) + abs(first) + abs(q_h)
        rows.append(
            Residuals(
                eta=eta,
                delta_loss=dl,
                first_order=first,
                second_order_hessian=q_h,
                second_order_ggn=q_g,
                r0=abs(dl),
                r1=abs(dl - first),
                r2_hessian=abs(dl - first - q_h),
                r2_ggn=abs(dl - first - q_g),
                noise=max(sigma, line.eps * scale),
                kinks=kinks,
            )
        )
    return rows


def taylor_steps(rows: list[Residuals], regimes_of: dict[str, list[str]]) -> list[TaylorStep]:
    """The report's steps: each row with its order against the previous row and its regimes."""
    steps = []
    for i, row in enumerate(rows):
        order = {
            key: observed_order(rows[i - 1], row, key) if i else None for key in ("r0", *RESIDUALS)
        }
        steps.append(
            TaylorStep(
                eta=row.eta,
                delta_loss=row.delta_loss,
                first_order=row.first_order,
                second_order_hessian=row.second_order_hessian,
                second_order_ggn=row.second_order_ggn,
                r0=row.r0,
                r1=row.r1,
                r2_hessian=row.r2_hessian,
                r2_ggn=row.r2_ggn,
                order_r0=order["r0"],
                order_r1=order["r1"],
                order_r2_hessian=order["r2_hessian"],
                order_r2_ggn=order["r2_ggn"],
                noise=row.noise,
                regime_r1=regimes_of["r1"][i],
                regime_r2_hessian=regimes_of["r2_hessian"][i],
                regime_r2_ggn=regimes_of["r2_ggn"][i],
                kinks=row.kinks,
            )
        )
    return steps


def observed_order(a: Residuals, b: Residuals, key: str) -> float | None:
    ra, rb = getattr(a, key), getattr(b, key)
    if ra <= 0 or rb <= 0 or a.eta == b.eta:
        return None
    return math.log(ra / rb) / math.log(a.eta / b.eta)


def measurable(step: Residuals, key: str) -> bool:
    return getattr(step, key) >= FLOOR_FACTOR * step.noise


# -- windows ----------------------------------------------------------------------------------
def find_window(steps: list[Residuals], key: str) -> list[int]:
    """Indices of the asymptotic window of residual `key`: from the lowest pair of
    consecutive usable steps upward while the orders agree with the median of its lowest
    three (so that a slow drift of the order toward large steps does not creep in)."""
    asc = sorted(range(len(steps)), key=lambda i: steps[i].eta)
    usable = [measurable(steps[i], key) and not steps[i].kinks for i in asc]
    starts = [k for k in range(len(asc) - 1) if usable[k] and usable[k + 1]]
    if not starts:
        return []
    run = _grow(steps, asc, usable, starts[0], key)
    if len(run) == 2 and len(starts) > 1 and starts[1] == starts[0] + 1:
        later = _grow(steps, asc, usable, starts[1], key)
        if len(later) >= 4:  # the lowest pair was still noisy: start above it
            run = later
    return run


def _grow(steps, asc, usable, start, key) -> list[int]:
    def order(k):
        return observed_order(steps[asc[k + 1]], steps[asc[k]], key)

    run, orders, k = [asc[start], asc[start + 1]], [order(start)], start + 1
    while k + 1 < len(asc) and usable[k + 1]:
        nxt = order(k)
        allowed = ORDER_DRIFT + order_uncertainty(steps[asc[k + 1]], steps[asc[k]], key)
        if nxt is None or abs(nxt - statistics.median(orders[:3])) > allowed:
            break
        orders.append(nxt)
        run.append(asc[k + 1])
        k += 1
    return run


def order_uncertainty(a: Residuals, b: Residuals, key: str) -> float:
    """How far round-off alone can move the order between two steps: twice the relative
    noise of the two residuals over the log of the step ratio (0.2 at the floor's edge for a
    factor 2, far less above it)."""
    spread = a.noise / getattr(a, key) + b.noise / getattr(b, key)
    return 2 * spread / abs(math.log(a.eta / b.eta))


def window_order(steps: list[Residuals], run: list[int], key: str) -> float:
    """Least-squares slope of log R against log η over the window's lowest FIT_STEPS steps
    (`run` is ordered by η, smallest first): the asymptotic end, where the higher-order terms
    weigh least, measured with every step there rather than with one noisy pair."""
    low = run[:FIT_STEPS]
    x = [math.log(steps[i].eta) for i in low]
    y = [math.log(getattr(steps[i], key)) for i in low]
    mx, my = statistics.fmean(x), statistics.fmean(y)
    sxx = sum((a - mx) ** 2 for a in x)
    return sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True)) / sxx


def still_rising(steps: list[Residuals], run: list[int], key: str) -> bool:
    """True when the window's orders grow toward small η (pre-asymptotic convergence to the
    expected order) or there is a single pair (no trend): an order error would make them
    fall toward small η instead."""
    orders = [observed_order(steps[b], steps[a], key) for a, b in zip(run, run[1:])]
    return len(orders) < 2 or orders[0] > orders[-1]


def regimes(steps: list[Residuals], key: str, run: list[int]) -> list[str]:
    if len(steps) == 1:
        return ["single"]
    low = min((steps[i].eta for i in run), default=math.inf)
    out = []
    for i, s in enumerate(steps):
        if s.kinks:
            out.append("kink")
        elif i in run:
            out.append("asymptotic")
        elif not measurable(s, key) or (run and s.eta < low):  # below the window: noise
            out.append("floor")
        else:
            out.append("non-asymptotic")
    return out


# -- what the window measures -----------------------------------------------------------------
def m_over_6(steps: list[Residuals], run: list[int]) -> float | None:
    """Median of R₂ᴴ/η³ over the window: estimates |∂³L[d,d,d]|/6, a lower bound on M/6."""
    if not run:
        return None
    return float(statistics.median(steps[i].r2_hessian / steps[i].eta ** 3 for i in run))


def trust_radius(steps: list[Residuals]) -> tuple[float | None, bool]:
    """Largest η where R₂ᴴ ≤ 1% |ΔL| there and at every smaller step (steps where ΔL is at
    the floor, or where R₂ᴴ is at a floor too high to tell, are passed over)."""
    radius, broken = None, False
    for s in sorted(steps, key=lambda s: s.eta):
        if not measurable(s, "r0"):
            continue
        limit = TRUST_SHARE * s.r0
        if measurable(s, "r2_hessian"):
            holds = s.r2_hessian <= limit
        elif FLOOR_FACTOR * s.noise <= limit:
            holds = True
        else:
            continue
        if not holds:
            broken = True
            break
        radius = s.eta
    return radius, radius is not None and not broken
