"""`landscape taylor-check`: Taylor-prediction residuals against the step size (MATH.md, 001).

Along a unit direction d and for steps η, with ΔL(η) = L(θ + ηd) − L(θ):
    R₀ = |ΔL|,  R₁ = |ΔL − ηgᵀd|,  R₂ᴴ = |ΔL − ηgᵀd − ½η²dᵀHd|,  R₂ᴳ: the same with G.
If g and H are right and L is smooth, R₁ = O(η²) and R₂ᴴ = O(η³): the observed order between
two steps, log(R(η₁)/R(η₂))/log(η₁/η₂), tends to 2 and 3 as η → 0. Two things stop that:
- round-off: ΔL carries the loss's evaluation noise, measured along d by ECnoise (Moré & Wild
  2011, difference tables of L at tiny equally spaced steps). A residual below FLOOR_FACTOR
  times that noise is "floor";
- large steps: higher-order terms take over and the order drifts ("non-asymptotic"). The
  asymptotic window is the run of steps, upward from the floor, whose consecutive orders agree
  (within ORDER_DRIFT of the run's median); the median of those orders is the verdict order.
Steps that cross a kink of a piecewise-linear module (ReLU, max-pool, ...) are counted by
forward hooks and left out ("kink"): there L is only piecewise smooth. Piecewise operations
called functionally (torch.relu, abs, clamp) are found in the autograd graph and named as the
likely cause when an order fails. An order short of the threshold but rising toward the
expected one as η shrinks, or no window at all, is "inconclusive" (round-off, kinks), not a
derivative failure.
The first-order prediction uses the step actually represented in the working dtype,
s = fl(θ + ηd) − θ (the same as ηd to round-off in float64; in float32 it removes the noise
of quantised steps).
The round-off estimate (ECnoise) lives in roundoff.py, the detection of non-smooth operations
and kink crossings in kinks.py.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from landscape_cli.analyses.taylor.kinks import kink_pieces, nonsmooth_operations, record_pieces
from landscape_cli.analyses.taylor.roundoff import NoiseEstimate, estimate_noise
from landscape_cli.analyses.taylor.roundoff import (
    ecnoise as ecnoise,  # re-exported: imported from here by the tests
)
from landscape_cli.curvature import CurvatureOperator
from landscape_cli.errors import InputError
from landscape_cli.estimators.lanczos import extreme_eigenpairs
from landscape_cli.problem import Problem

REQUIRED_ORDER = {"r1": 1.9, "r2_hessian": 2.9}
FLOOR_FACTOR = 30.0  # a residual is measurable above FLOOR_FACTOR × the noise of ΔL
ORDER_DRIFT = 0.15  # a step leaves the window when its order strays this far from the run's
EXACT_MARGIN = 1e4  # "exact to round-off" needs the lower residual this far above the noise
TRUST_SHARE = 0.01  # trust radius: R₂ᴴ ≤ 1% of |ΔL|
JUMP = 1.5  # an order this far above the expected one is a jump (kink, sign change)
DIRECTIONS = ("gradient", "top-eigenvector", "bottom-eigenvector", "random")
EIGEN_TOL = 1e-4


# -- report -----------------------------------------------------------------------------------
@dataclass
class TaylorStep:
    eta: float
    delta_loss: float  # L(θ + ηd) − L(θ)
    first_order: float  # gᵀs, s = the represented step ≈ ηd
    second_order_hessian: float  # ½η² dᵀHd
    second_order_ggn: float  # ½η² dᵀGd
    r0: float
    r1: float
    r2_hessian: float
    r2_ggn: float
    order_r0: float | None  # observed order against the previous (larger) step
    order_r1: float | None
    order_r2_hessian: float | None
    order_r2_ggn: float | None
    noise: float  # estimated round-off in ΔL; residuals below FLOOR_FACTOR × noise are floor
    regime_r1: str  # floor | asymptotic | non-asymptotic | kink | single
    regime_r2_hessian: str
    regime_r2_ggn: str
    kinks: int | None  # activation units that changed linear piece (None: nothing to watch)


@dataclass
class OrderCheck:
    residual: str  # r1 | r2_hessian | r2_ggn
    expected: float
    required: float | None  # None: informational (R₂ᴳ)
    order: float | None  # median observed order between consecutive steps of the window
    window: list[float] | None  # [η_min, η_max]
    window_steps: int
    status: str  # passed | failed | exact | inconclusive | not-checked
    reason: str


@dataclass
class Decomposition:
    """Terms of ΔL ≈ ηgᵀd + ½η²dᵀGd + ½η²dᵀTd (H = G + T)."""

    gradient: float  # gᵀd
    half_ggn: float  # ½dᵀGd
    half_nonlinearity: float  # ½dᵀTd = ½(dᵀHd − dᵀGd)
    half_hessian: float  # ½dᵀHd


@dataclass
class DirectionReport:
    name: str
    passed: bool
    status: str  # passed | failed | inconclusive | not-checked
    reason: str
    order_r1: float | None
    order_r2_hessian: float | None
    order_r2_ggn: float | None
    r2_ggn_expected_order: int  # 2 where T ≠ 0 along d, 3 where T = 0
    m_over_6: float | None  # median R₂ᴴ/η³ over the window: |∂³L[d,d,d]|/6 ≤ M/6
    m_over_6_converged: bool  # the window's order is 3 ± 0.15 (else the η³ term is not alone)
    trust_radius: float | None  # largest η with R₂ᴴ ≤ 1% |ΔL| (and at every smaller step)
    trust_radius_is_lower_bound: bool  # held at the largest step of the sweep
    decomposition: Decomposition
    checks: list[OrderCheck]
    noise: NoiseEstimate
    eigenvalue: float | None
    eigenvalue_error_bound: float | None
    nonsmooth_ops: list[str]  # piecewise-smooth operations in the loss's autograd graph
    kinks_counted_in: list[str]  # module types whose kink crossings are counted per step
    notes: list[str]
    steps: list[TaylorStep]
    vector: Tensor | None = field(default=None, repr=False)  # d itself, not serialised


@dataclass(kw_only=True)
class TaylorReport:
    command: str = "taylor-check"
    passed: bool
    loss: float
    num_params: int
    num_samples: int
    dtype: str
    device: str
    strategy: str
    machine_epsilon: float
    etas: list[float]
    thresholds: dict
    directions: list[DirectionReport]
    skipped: list[str]
    hessian_products: int
    ggn_products: int
    eigen_products: int
    loss_evaluations: int
    seconds: float


@dataclass
class TaylorSettings:
    etas: list[float]
    directions: list[str] = field(default_factory=lambda: list(DIRECTIONS))
    direction_vector: Tensor | None = None  # a user's direction (--direction-file)
    direction_label: str = "file"
    seed: int = 0


@dataclass
class Direction:
    name: str
    vector: Tensor  # unit norm, working dtype
    eigenvalue: float | None = None
    error_bound: float | None = None


# -- step schedules ---------------------------------------------------------------------------
def halving_steps(eps: float, steps: int) -> list[float]:
    """η = eps, eps/2, ..., eps/2^steps."""
    if not (math.isfinite(eps) and eps > 0):
        raise InputError(f"--eps must be a positive step size, got {eps}", "use e.g. --eps 1e-3")
    if not 0 <= steps <= 60:
        raise InputError(f"--steps must be between 0 and 60, got {steps}", "use e.g. --steps 12")
    return [eps * 0.5**k for k in range(steps + 1)]


def parse_sweep(text: str) -> list[float]:
    """`A:B:N`: N log-spaced steps from A to B, largest first."""
    fix = "write --sweep MIN:MAX:N, e.g. --sweep 1e-6:1e-1:13"
    parts = str(text).split(":")
    try:
        low, high, count = float(parts[0]), float(parts[1]), int(parts[2])
        if len(parts) != 3:
            raise ValueError
    except (ValueError, IndexError):
        raise InputError(f"cannot read --sweep '{text}'", fix) from None
    if not (0 < low < high and math.isfinite(high)) or count < 2 or count > 200:
        raise InputError(f"--sweep '{text}' needs 0 < MIN < MAX and 2 ≤ N ≤ 200", fix)
    return sorted(np.geomspace(low, high, count).tolist(), reverse=True)


# -- the analysis -----------------------------------------------------------------------------
def analyse_taylor(
    problem: Problem,
    hessian: CurvatureOperator,
    ggn: CurvatureOperator,
    settings: TaylorSettings,
    progress: Callable[[str, int], None] | None = None,
    gradient: Tensor | None = None,
) -> TaylorReport:
    """Residuals along every direction of `settings`; `gradient` replaces problem.gradient()
    (to check a gradient computed elsewhere)."""
    start = time.perf_counter()
    tell = progress or (lambda stage, done: None)
    h0, g0 = hessian.products, ggn.products
    line = LineLoss(problem)
    gradient = problem.gradient() if gradient is None else gradient.to(problem.dtype)
    directions, skipped, eigen_products = build_directions(problem, gradient, hessian, settings)
    etas = sorted(settings.etas, reverse=True)
    V = torch.stack([d.vector for d in directions], dim=1)
    HV, GV = hessian.matmat(V), ggn.matmat(V)
    reports = []
    for j, direction in enumerate(directions):
        tell(direction.name, j)
        curv = (_dot(V[:, j], HV[:, j]), _dot(V[:, j], GV[:, j]))
        reports.append(measure_direction(line, gradient, direction, curv, etas))
    return TaylorReport(
        passed=all(r.status in ("passed", "not-checked") for r in reports),
        loss=line.base,
        num_params=problem.num_params,
        num_samples=problem.num_samples,
        dtype=str(problem.dtype).replace("torch.", ""),
        device=str(problem.device),
        strategy=getattr(hessian, "strategy", "dense"),
        machine_epsilon=torch.finfo(problem.dtype).eps,
        etas=etas,
        thresholds=dict(
            REQUIRED_ORDER,
            floor_factor=FLOOR_FACTOR,
            order_drift=ORDER_DRIFT,
            trust_share=TRUST_SHARE,
        ),
        directions=reports,
        skipped=skipped,
        hessian_products=hessian.products - h0 - eigen_products,
        ggn_products=ggn.products - g0,
        eigen_products=eigen_products,
        loss_evaluations=line.evaluations,
        seconds=time.perf_counter() - start,
    )


def measure_direction(line, gradient: Tensor, direction: Direction, curv, etas) -> DirectionReport:
    d = direction.vector
    hd, gd_curv = curv
    decomposition = Decomposition(_dot(gradient, d), 0.5 * gd_curv, 0.5 * (hd - gd_curv), 0.5 * hd)
    reference = line.reference_pieces()
    samples = [line.sample(d, eta, gradient, reference) for eta in etas]
    noise = estimate_noise(line, d)
    steps = build_steps(line, etas, samples, decomposition, noise.sigma)
    dtype_name = str(d.dtype).replace("torch.", "")
    return judge(direction, steps, decomposition, noise, line, dtype_name)


# -- evaluating the loss along a line ---------------------------------------------------------
class LineLoss:
    """L(θ + ηd) with the represented step, counted, with optional kink watching."""

    def __init__(self, problem: Problem):
        self.problem = problem
        self.theta = problem.flat_params()
        self.eps = torch.finfo(problem.dtype).eps
        self.evaluations = 0
        self.kink_modules = sorted(
            {type(m).__name__ for m in problem.model.modules() if kink_pieces(m) is not None}
        )
        self.nonsmooth = nonsmooth_operations(problem)
        self.base = self.value(self.theta)

    def value(self, flat: Tensor) -> float:
        self.evaluations += 1
        return self.problem.loss_at(flat)

    def point(self, d: Tensor, eta: float) -> Tensor:
        return self.theta + eta * d

    def sample(self, d: Tensor, eta: float, gradient: Tensor, reference) -> tuple:
        """(ΔL, gᵀs, kinks) for the step s = fl(θ + ηd) − θ actually taken; kinks counts the
        activation units whose piece differs from `reference` (θ's), None if not watched."""
        point = self.point(d, eta)
        step = point.double() - self.theta.double()
        if reference is None:
            value, kinks = self.value(point), None
        else:
            value, pieces = self.value_and_pieces(point)
            kinks = sum(int((a != b).sum()) for a, b in zip(reference, pieces, strict=True))
        return value - self.base, float(gradient.double() @ step), kinks

    def value_and_pieces(self, flat: Tensor) -> tuple[float, list[Tensor]]:
        with record_pieces(self.problem.model) as record:
            value = self.value(flat)
        return value, record.codes

    def reference_pieces(self) -> list[Tensor] | None:
        """The pieces at θ, or None when the model has no piecewise module to watch."""
        return self.value_and_pieces(self.theta)[1] if self.kink_modules else None


# -- residuals, windows and verdicts ----------------------------------------------------------
RESIDUALS = ("r1", "r2_hessian", "r2_ggn")
LOWER = {"r1": "r0", "r2_hessian": "r1", "r2_ggn": "r1"}
SYMBOL = {"r0": "R₀", "r1": "R₁", "r2_hessian": "R₂ᴴ", "r2_ggn": "R₂ᴳ"}


def build_steps(line, etas, samples, dec: Decomposition, sigma: float):
    steps: list[TaylorStep] = []
    for eta, (dl, first, kinks) in zip(etas, samples, strict=True):
        q_h, q_g = eta * eta * dec.half_hessian, eta * eta * dec.half_ggn
        scale = abs(line.base) + abs(line.base + dl) + abs(first) + abs(q_h)
        step = TaylorStep(
            eta,
            dl,
            first,
            q_h,
            q_g,
            abs(dl),
            abs(dl - first),
            abs(dl - first - q_h),
            abs(dl - first - q_g),
            None,
            None,
            None,
            None,
            max(sigma, line.eps * scale),
            "",
            "",
            "",
            kinks,
        )
        if steps:
            prev = steps[-1]
            for key in ("r0", *RESIDUALS):
                setattr(step, f"order_{key}", observed_order(prev, step, key))
        steps.append(step)
    return steps


def observed_order(a: TaylorStep, b: TaylorStep, key: str) -> float | None:
    ra, rb = getattr(a, key), getattr(b, key)
    if ra <= 0 or rb <= 0 or a.eta == b.eta:
        return None
    return math.log(ra / rb) / math.log(a.eta / b.eta)


def measurable(step: TaylorStep, key: str) -> bool:
    return getattr(step, key) >= FLOOR_FACTOR * step.noise


def find_window(steps: list[TaylorStep], key: str) -> list[int]:
    """Indices of the asymptotic window of residual `key`: from the lowest pair of
    consecutive usable steps upward while the orders agree with the run's median."""
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
        if nxt is None or abs(nxt - statistics.median(orders)) > ORDER_DRIFT:
            break
        orders.append(nxt)
        run.append(asc[k + 1])
        k += 1
    return run


def window_order(steps: list[TaylorStep], run: list[int], key: str) -> float:
    """Median of the observed orders between consecutive window steps: robust to the noisier
    pair at the floor's edge and to the first drift at the window's top."""
    pairs = zip(run, run[1:])
    return float(statistics.median(observed_order(steps[b], steps[a], key) for a, b in pairs))


def regimes(steps: list[TaylorStep], key: str, run: list[int]) -> list[str]:
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


def check_residual(
    steps, key: str, expected: float, required: float | None, dtype_name: str
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
    sym = SYMBOL[key]
    if len(run) == 2 and window_order(steps, run, key) > expected + JUMP:
        run = []  # one pair whose residual drops abruptly: a kink or a sign change, not an order
    if len(run) < 2:
        return _without_window(steps, key, expected, required, dtype_name), []
    order = window_order(steps, run, key)
    etas = [steps[i].eta for i in run]
    window = [min(etas), max(etas)]
    status = "measured" if required is None else ("passed" if order >= required else "failed")
    reason = f"{sym} has order {order:.2f} over η ∈ [{window[0]:.3g}, {window[1]:.3g}]"
    if status == "failed" and order >= expected - 0.5 and still_rising(steps, run, key):
        status = "inconclusive"
        reason = (
            f"{sym} has order {order:.2f} over η ∈ [{window[0]:.3g}, {window[1]:.3g}], short "
            f"of {required} but rising toward {expected:g} as η shrinks, where the "
            f"{dtype_name} round-off floor or the end of the sweep cuts it off: these steps are "
            "pre-asymptotic, which is not a derivative failure; use --dtype float64 or smaller "
            "steps"
        )
    return OrderCheck(key, expected, required, order, window, len(run), status, reason), run


def still_rising(steps, run: list[int], key: str) -> bool:
    """True when the window's orders grow toward small η (pre-asymptotic convergence to the
    expected order) or there is a single pair (no trend): an order error would make them
    fall toward small η instead."""
    orders = [observed_order(steps[b], steps[a], key) for a, b in zip(run, run[1:])]
    return len(orders) < 2 or orders[0] > orders[-1]


def _without_window(steps, key, expected, required, dtype_name) -> OrderCheck:
    sym, lower = SYMBOL[key], SYMBOL[LOWER[key]]
    smooth = [s for s in steps if not s.kinks]
    above = [s for s in smooth if measurable(s, key)]
    margin = max((getattr(s, LOWER[key]) / s.noise for s in smooth), default=0.0)
    if not above and margin >= EXACT_MARGIN:
        return OrderCheck(
            key,
            expected,
            required,
            None,
            None,
            0,
            "exact",
            f"{sym} is at the round-off floor at every step while {lower} rises "
            f"to {margin:.1e} × the noise: the expansion is exact to a relative "
            f"{FLOOR_FACTOR / margin:.0e} along d",
        )
    if any(s.kinks and measurable(s, key) for s in steps):
        first = min(s.eta for s in steps if s.kinks)
        reason = (
            f"{sym} is above the round-off floor only at steps that cross a kink of a "
            f"piecewise-linear activation (from η = {first:.3g} up): the loss is only "
            "piecewise smooth along d; sweep smaller steps"
        )
    elif len(above) >= 2:
        reason = (
            f"{sym} rises above the {dtype_name} round-off floor only at η ≥ "
            f"{min(s.eta for s in above):.3g}, where its order has not settled (higher-order "
            "terms or a kink): no asymptotic window between the floor and the large steps; "
            "use --dtype float64 or a finer --sweep"
        )
    else:
        floor = min(FLOOR_FACTOR * s.noise for s in steps)
        where = "no step" if not above else "only 1 step"
        reason = (
            f"{sym} is above the {dtype_name} round-off floor (≈ {floor:.2g}) at {where}, and an "
            "order needs two: round-off, not the derivatives, limits the check; use --dtype "
            "float64 or larger steps (--eps, --sweep)"
        )
    return OrderCheck(key, expected, required, None, None, 0, "inconclusive", reason)


def judge(
    direction: Direction,
    steps,
    dec: Decomposition,
    noise: NoiseEstimate,
    line: LineLoss,
    dtype_name: str,
) -> DirectionReport:
    t_matters = abs(2 * dec.half_nonlinearity) > math.sqrt(line.eps) * (
        abs(2 * dec.half_hessian) + abs(2 * dec.half_ggn)
    )
    expected = {"r1": 2.0, "r2_hessian": 3.0, "r2_ggn": 2.0 if t_matters else 3.0}
    checks, runs = [], {}
    for key in RESIDUALS:
        check, runs[key] = check_residual(
            steps, key, expected[key], REQUIRED_ORDER.get(key), dtype_name
        )
        checks.append(check)
        for step, regime in zip(steps, regimes(steps, key, runs[key]), strict=True):
            setattr(step, f"regime_{key}", regime)
    by_key = {c.residual: c for c in checks}
    status, reason = direction_verdict(by_key, steps, line.nonsmooth)
    radius, unbounded = trust_radius(steps)
    return DirectionReport(
        name=direction.name,
        passed=status == "passed",
        status=status,
        reason=reason,
        order_r1=by_key["r1"].order,
        order_r2_hessian=by_key["r2_hessian"].order,
        order_r2_ggn=by_key["r2_ggn"].order,
        r2_ggn_expected_order=int(expected["r2_ggn"]),
        m_over_6=m_over_6(steps, runs["r2_hessian"]),
        m_over_6_converged=by_key["r2_hessian"].order is not None
        and abs(by_key["r2_hessian"].order - 3.0) <= 0.15,
        trust_radius=radius,
        trust_radius_is_lower_bound=unbounded,
        decomposition=dec,
        checks=checks,
        noise=noise,
        eigenvalue=direction.eigenvalue,
        eigenvalue_error_bound=direction.error_bound,
        nonsmooth_ops=line.nonsmooth,
        kinks_counted_in=line.kink_modules,
        notes=ggn_notes(by_key["r2_ggn"], dec, t_matters) + order_notes(checks),
        steps=steps,
        vector=direction.vector,
    )


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
    unsure = [c for c in main if c.status == "inconclusive"]
    if unsure:
        also = f"; {SYMBOL[unsure[1].residual]} likewise" if len(unsure) == 2 else ""
        return "inconclusive", unsure[0].reason + also
    parts = [
        f"{SYMBOL[c.residual]} order {c.order:.2f} ≥ {c.required}"
        if c.order is not None
        else f"{SYMBOL[c.residual]} exact to round-off"
        for c in main
    ]
    return "passed", ", ".join(parts)


def failure_cause(check: OrderCheck, steps, nonsmooth: list[str]) -> str:
    """What a too-low order most likely means, read off the order itself."""
    sym, order, key = SYMBOL[check.residual], check.order, check.residual
    step = next(s for s in steps if s.eta == check.window[0])  # the window's smallest step
    head = (
        f"{sym} has order {order:.2f} < {check.required} over η ∈ "
        f"[{check.window[0]:.3g}, {check.window[1]:.3g}]"
    )
    residual = getattr(step, key)
    if order < 0.5:
        cause = (
            f"{sym} does not shrink with η, so the loss along d is noisy or discontinuous (a "
            "random forward pass such as dropout, or round-off)"
        )
    elif order < 1.5:
        cause = (
            f"{sym} ∝ η, so the first-order term is off: gᵀd disagrees with the loss's "
            f"slope along d by ≈ {residual / step.eta:.3g} (a wrong gradient, or L is not "
            "differentiable at θ)"
        )
    elif key == "r1":
        cause = (
            f"the slope of L changes abruptly along d, or gᵀd is off by up to "
            f"{residual / step.eta:.3g}"
        )
    elif order < 2.5:
        cause = (
            f"{sym} ∝ η², so the second-order term is off: dᵀHd disagrees with the "
            f"loss's curvature along d by ≈ {2 * residual / step.eta**2:.3g} (a wrong "
            "Hessian-vector product, or L'' jumps along d)"
        )
    else:
        cause = "close to 3 but short of it: higher-order terms still weigh in; try smaller steps"
    if nonsmooth:
        return (
            f"{head}: most likely a kink — the loss uses {', '.join(nonsmooth)}, and a kink "
            "crossed closer than the smallest step leaves L only piecewise smooth along d "
            "(below the nearest kink the orders are 2 and 3: sweep smaller steps); "
            f"otherwise {cause}"
        )
    return f"{head}: {cause}"


def order_notes(checks: list[OrderCheck]) -> list[str]:
    return [
        f"{SYMBOL[c.residual]} falls abruptly in its window (order {c.order:.1f} against "
        f"{c.expected:g} expected): a kink or a sign change of the remainder between these "
        "steps; a finer --sweep shows which"
        for c in checks
        if c.order is not None and c.order > c.expected + JUMP
    ]


def m_over_6(steps, run: list[int]) -> float | None:
    """Median of R₂ᴴ/η³ over the window: estimates |∂³L[d,d,d]|/6, a lower bound on M/6."""
    if not run:
        return None
    return float(statistics.median(steps[i].r2_hessian / steps[i].eta ** 3 for i in run))


def trust_radius(steps) -> tuple[float | None, bool]:
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
    if check.order is not None and abs(check.order - 2.0) > 0.3:
        note += (
            f"; observed {check.order:.2f} because the cubic term still dominates "
            "½η²dᵀTd at these steps"
        )
    return [note]


# -- directions -------------------------------------------------------------------------------
def build_directions(
    problem: Problem, gradient: Tensor, hessian: CurvatureOperator, settings: TaylorSettings
) -> tuple[list[Direction], list[str], int]:
    """Unit directions, each oriented downhill (gᵀd ≤ 0). Returns them, the skipped ones with
    the reason, and the Hessian products the eigenvectors cost."""
    out, skipped, products = [], [], 0
    wanted = settings.directions
    if settings.direction_vector is not None:
        out.append(Direction(settings.direction_label, _unit(settings.direction_vector)))
    if "gradient" in wanted:
        if float(gradient.norm()) > 0:
            out.append(Direction("gradient", _unit(-gradient)))
        else:
            skipped.append("gradient: g = 0 at θ, it has no direction")
    eig_ends = [w for w in ("top-eigenvector", "bottom-eigenvector") if w in wanted]
    if eig_ends:
        before = hessian.products
        eig = extreme_eigenpairs(
            hessian,
            int("top-eigenvector" in eig_ends),
            int("bottom-eigenvector" in eig_ends),
            tol=EIGEN_TOL,
            seed=settings.seed,
        )
        products = hessian.products - before
        for name, pairs, vectors in (
            ("top-eigenvector", eig.top, eig.top_vectors),
            ("bottom-eigenvector", eig.bottom, eig.bottom_vectors),
        ):
            if name in eig_ends:
                out.append(
                    Direction(
                        name,
                        _downhill(vectors[:, 0], gradient),
                        pairs[0].value,
                        pairs[0].error_bound,
                    )
                )
    if "random" in wanted:
        gen = torch.Generator().manual_seed(settings.seed)
        v = torch.randn(problem.num_params, generator=gen, dtype=torch.float64)
        out.append(Direction("random", _downhill(v.to(problem.dtype), gradient)))
    if not out:
        raise InputError(
            "no direction left to check (" + "; ".join(skipped) + ")",
            "choose --direction random or give --direction-file",
        )
    return out, skipped, products


def load_direction(vector, num_params: int, dtype, device, source: str) -> Tensor:
    """A user's direction as a flat vector of the right length (checked)."""
    v = torch.as_tensor(np.asarray(vector) if not isinstance(vector, Tensor) else vector)
    if not v.dtype.is_floating_point:
        v = v.double()
    if v.numel() != num_params:
        raise InputError(
            f"the direction in {source} has {v.numel()} entries but θ has {num_params}",
            "give a flat vector with one entry per parameter",
        )
    v = v.reshape(-1).to(dtype=dtype, device=device)
    if not bool(torch.isfinite(v).all()) or float(v.norm()) == 0:
        raise InputError(
            f"the direction in {source} is zero or not finite", "give a nonzero finite vector"
        )
    return v


def _unit(v: Tensor) -> Tensor:
    return v / v.norm()


def _downhill(v: Tensor, gradient: Tensor) -> Tensor:
    v = _unit(v)
    return -v if _dot(gradient, v) > 0 else v


def _dot(a: Tensor, b: Tensor) -> float:
    return float(a.double() @ b.double())
