"""Judging the observed orders: the checks per residual, the verdict per direction and the
prose that says why (failure causes, notes)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from landscape.analyses.taylor.report import Decomposition, OrderCheck
from landscape.analyses.taylor.settings import EXACT_MARGIN, FIT_STEPS, FLOOR_FACTOR, JUMP
from landscape.analyses.taylor.steps import (
    Residuals,
    find_window,
    measurable,
    order_uncertainty,
    still_rising,
    window_order,
)

LOWER = {"r1": "r0", "r2_hessian": "r1", "r2_ggn": "r1"}
SYMBOL = {"r0": "R₀", "r1": "R₁", "r2_hessian": "R₂ᴴ", "r2_ggn": "R₂ᴳ"}


def nonlinearity_matters(dec: Decomposition, eps: float) -> bool:
    """T ≠ 0 along d beyond round-off: then R₂ᴳ has order 2, not 3."""
    return abs(2 * dec.half_nonlinearity) > math.sqrt(eps) * (
        abs(2 * dec.half_hessian) + abs(2 * dec.half_ggn)
    )


def expected_orders(t_matters: bool) -> dict[str, float]:
    return {"r1": 2.0, "r2_hessian": 3.0, "r2_ggn": 2.0 if t_matters else 3.0}


@dataclass(frozen=True)
class Advice:
    """What the run already does, so that no message advises it: the dtype, and whether the
    steps were chosen per direction (then the sweep already reached the floor and the top)."""

    dtype: str
    auto: bool

    def more(self, steps_help: str = "") -> str:
        """The next thing to try, or "" when the run already did everything it could."""
        tips = []
        if self.dtype != "float64":
            tips.append("--dtype float64 lowers the round-off floor")
        if not self.auto:
            chosen = "leave out --eps/--sweep to let the steps be chosen"
            tips.append(f"{steps_help} ({chosen})" if steps_help else chosen)
        return ("; " + " or ".join(tips)) if tips else ""


# -- one residual -----------------------------------------------------------------------------
def check_residual(
    steps: list[Residuals], key: str, expected: float, required: float | None, advice: Advice
) -> tuple[OrderCheck, list[int]]:
    if len(steps) < 2:
        return OrderCheck(
            key,
            expected,
            required,
            None,
            None,
            0,
            "not-checked",
            "a single step: no order to observe",
        ), []
    run = find_window(steps, key)
    if len(run) == 2 and window_order(steps, run, key) > expected + JUMP:
        run = []  # one pair whose residual drops abruptly: a kink or a sign change, not an order
    if len(run) < 2:
        return _without_window(steps, key, expected, required, advice), []
    return _with_window(steps, run, key, expected, required, advice), run


def _with_window(steps, run, key, expected, required, advice: Advice) -> OrderCheck:
    sym = SYMBOL[key]
    order = window_order(steps, run, key)
    etas = [steps[i].eta for i in run]
    window = [min(etas), max(etas)]
    status = "measured" if required is None else ("passed" if order >= required else "failed")
    reason = f"{sym} has order {order:.2f} over η ∈ [{window[0]:.3g}, {window[1]:.3g}]"
    clearly_wrong = order < expected - 0.5  # an order one too low shows as ≈ expected − 1
    fit = run[:FIT_STEPS]
    spread = order_uncertainty(steps[fit[-1]], steps[fit[0]], key)  # round-off on the slope
    if status == "failed" and not clearly_wrong and order + spread >= required:
        status = "inconclusive"
        reason = (
            f"{sym} has order {order:.2f} over η ∈ [{window[0]:.3g}, {window[1]:.3g}], short "
            f"of {required} by less than its round-off uncertainty (± {spread:.2f}): not a "
            "derivative failure" + advice.more("sweep smaller steps")
        )
    elif status == "failed" and (
        len(run) < 3 or (not clearly_wrong and still_rising(steps, run, key))
    ):
        status = "inconclusive"
        why = (
            "measured on two steps only (no asymptotic range to judge)"
            if len(run) < 3
            else f"rising toward {expected:g}, where the {advice.dtype} round-off floor cuts "
            "it off: these steps are pre-asymptotic"
        )
        reason = (
            f"{sym} has order {order:.2f} over η ∈ [{window[0]:.3g}, {window[1]:.3g}], short "
            f"of {required} but {why}, which is not a derivative failure"
            + advice.more("sweep smaller steps")
        )
    return OrderCheck(key, expected, required, order, window, len(run), status, reason)


def _without_window(steps, key, expected, required, advice: Advice) -> OrderCheck:
    sym, lower = SYMBOL[key], SYMBOL[LOWER[key]]
    smooth = [s for s in steps if not s.kinks]
    above = [s for s in smooth if measurable(s, key)]
    margin = max((getattr(s, LOWER[key]) / s.noise for s in smooth), default=0.0)
    shown = any(measurable(s, key) for s in steps)  # at a kinked step: the table shows it
    if not shown and margin >= EXACT_MARGIN:
        return OrderCheck(
            key,
            expected,
            required,
            None,
            None,
            0,
            "exact",
            f"{sym} is at the round-off floor at every step while {lower} rises "
            f"to {margin:.1e} × the noise: the expansion holds to a relative "
            f"{FLOOR_FACTOR / margin:.0e} along d (any higher-order term is below round-off)",
        )
    status, reason = _why_no_window(steps, sym, key, above, advice)
    return OrderCheck(key, expected, required, None, None, 0, status, reason)


def _why_no_window(steps, sym: str, key: str, above, advice: Advice) -> tuple[str, str]:
    if any(s.kinks and measurable(s, key) for s in steps):
        first = min(s.eta for s in steps if s.kinks)
        return "kinks", (
            f"kinks: {sym} rises above the {advice.dtype} round-off floor only at steps that "
            f"cross a kink of a piecewise-linear operation (the nearest at η ≤ {first:.3g}); "
            "below it the loss is smooth but the residual is round-off, so the order is not "
            "measurable along d — the loss is piecewise smooth, not a derivative failure"
            + advice.more("sweep smaller steps")
        )
    if len(above) >= 2:
        return "inconclusive", (
            f"{sym} rises above the {advice.dtype} round-off floor only at η ≥ "
            f"{min(s.eta for s in above):.3g}, where its order has not settled (higher-order "
            "terms already weigh in there): no asymptotic window between the floor and the "
            "large steps, which is not a derivative failure" + advice.more("a finer --sweep")
        )
    floor = min(FLOOR_FACTOR * s.noise for s in steps)
    where = "no step" if not above else "only 1 step"
    largest = max(s.eta for s in steps)
    return "inconclusive", (
        f"{sym} is above the {advice.dtype} round-off floor (≈ {floor:.2g}) at {where} up to "
        f"η = {largest:.3g}, and an order needs two: round-off, not the derivatives, limits "
        "the check" + advice.more("larger steps (--eps, --sweep)")
    )


# -- one direction ----------------------------------------------------------------------------
def direction_verdict(checks: dict[str, OrderCheck], steps, nonsmooth: list[str]):
    main = [checks["r1"], checks["r2_hessian"]]
    if all(c.status == "not-checked" for c in main):
        return "not-checked", "a single step: the residuals are reported, no order is judged"
    failed = [c for c in main if c.status == "failed"]
    if failed:
        reason = failure_cause(failed[0], steps, nonsmooth)
        if len(failed) == 2:
            reason += f"; R₂ᴴ (order {failed[1].order:.2f}) fails with R₁, as it must"
        return "failed", reason
    unsure = [c for c in main if c.status in ("inconclusive", "kinks")]
    if unsure:
        shown = [c for c in main if c.status in ("passed", "exact")]
        also = f"; {SYMBOL[unsure[1].residual]} likewise" if len(unsure) == 2 else ""
        first = "" if not shown else _passed_part(shown[0]) + "; "
        status = "kinks" if any(c.status == "kinks" for c in unsure) else "inconclusive"
        return status, first + unsure[0].reason + also
    return "passed", ", ".join(_passed_part(c) for c in main)


def _passed_part(c: OrderCheck) -> str:
    if c.order is None:
        return f"{SYMBOL[c.residual]} at the round-off floor at every step"
    return f"{SYMBOL[c.residual]} order {c.order:.2f} ≥ {c.required}"


def run_verdict(statuses: list[str]) -> str:
    """failed: a derivative is wrong along some direction (exit 1, and only then); passed:
    every order was shown; inconclusive: none failed, but round-off or kinks hid some."""
    if "failed" in statuses:
        return "failed"
    if all(s in ("passed", "not-checked") for s in statuses):
        return "passed"
    return "inconclusive"


def failure_cause(check: OrderCheck, steps, nonsmooth: list[str]) -> str:
    """What a too-low order most likely means, read off the order itself."""
    sym = SYMBOL[check.residual]
    step = next(s for s in steps if s.eta == check.window[0])  # the window's smallest step
    head = (
        f"{sym} has order {check.order:.2f} < {check.required} over η ∈ "
        f"[{check.window[0]:.3g}, {check.window[1]:.3g}]"
    )
    cause = _order_cause(sym, check.order, check.residual, step)
    if nonsmooth:
        return (
            f"{head}: most likely a kink — the loss uses {', '.join(nonsmooth)}, and a kink "
            "crossed closer than the smallest step leaves L only piecewise smooth along d "
            "(below the nearest kink the orders are 2 and 3: sweep smaller steps); "
            f"otherwise {cause}"
        )
    return f"{head}: {cause}"


def _order_cause(sym: str, order: float, key: str, step: Residuals) -> str:
    residual = getattr(step, key)
    if order < 0.5:
        return (
            f"{sym} does not shrink with η, so the loss along d is noisy or discontinuous (a "
            "random forward pass such as dropout, or round-off)"
        )
    if order < 1.5:
        return (
            f"{sym} ∝ η, so the first-order term is off: gᵀd disagrees with the loss's "
            f"slope along d by ≈ {residual / step.eta:.3g} (a wrong gradient, or L is not "
            "differentiable at θ)"
        )
    if key == "r1":
        return (
            f"the slope of L changes abruptly along d, or gᵀd is off by up to "
            f"{residual / step.eta:.3g}"
        )
    if order < 2.5:
        return (
            f"{sym} ∝ η², so the second-order term is off: dᵀHd disagrees with the "
            f"loss's curvature along d by ≈ {2 * residual / step.eta**2:.3g} (a wrong "
            "Hessian-vector product, or L'' jumps along d)"
        )
    return (
        f"{sym}'s order falls below 3 toward the smallest steps, so a term ∝ η² shows there: "
        f"dᵀHd is off by about {2 * residual / step.eta**2:.3g} (a small error in the "
        "Hessian-vector product, or L'' jumps along d)"
    )


# -- notes ------------------------------------------------------------------------------------
def order_notes(checks: list[OrderCheck]) -> list[str]:
    return [
        f"{SYMBOL[c.residual]} falls abruptly in its window (order {c.order:.1f} against "
        f"{c.expected:g} expected): a kink or a sign change of the remainder between these "
        "steps; a finer --sweep shows which"
        for c in checks
        if c.order is not None and c.order > c.expected + JUMP
    ]


def ggn_notes(check: OrderCheck, dec: Decomposition, t_matters: bool) -> list[str]:
    if not t_matters:
        return [
            "T = 0 along d (dᵀHd = dᵀGd to round-off): the GGN model equals the Hessian "
            "model here, so R₂ᴳ behaves like R₂ᴴ (order 3, or round-off)"
        ]
    note = (
        f"T ≠ 0 along d (½dᵀTd = {dec.half_nonlinearity:.4g}): the GGN model leaves out "
        "½η²dᵀTd, so R₂ᴳ has order 2 — expected, not a failure"
    )
    if check.order is not None and check.order - 2.0 > 0.3:
        note += (
            f"; observed {check.order:.2f} because the cubic term still dominates "
            "½η²dᵀTd at these steps"
        )
    return [note]
