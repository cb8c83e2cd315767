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
  (within ORDER_DRIFT plus their own round-off spread of the median of its lowest three); the
  verdict order is the least-squares slope of log R against log η over its lowest FIT_STEPS.
By default the steps are chosen per direction (schedule.py): walked down to the round-off floor
and up to where R₂ᴴ stops scaling as η³, then halved where the third-order term is measured.
Steps that cross a kink of a piecewise-linear module (ReLU, max-pool, ...) are counted by
forward hooks and left out ("kink"): there L is only piecewise smooth. Piecewise operations
called functionally (torch.relu, abs, clamp) are found in the autograd graph and named as the
likely cause when an order fails. "failed" means a derivative is wrong (an order one too low
over a clean window, exit code 1); an order short of the threshold but rising toward the
expected one as η shrinks, or no window at all, is "inconclusive" (round-off) or "kinks" (the
residuals leave the floor only across kinks): not a derivative failure.
The first-order prediction uses the step actually represented in the working dtype,
s = fl(θ + ηd) − θ (the same as ηd to round-off in float64; in float32 it removes the noise
of quantised steps).
The round-off estimate (ECnoise) lives in roundoff.py, the detection of non-smooth operations
and kink crossings in kinks.py, the loss along the line in line.py, residuals and windows in
steps.py, the verdicts and their prose in verdicts.py, the directions in directions.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import Tensor

from landscape.analyses.taylor.directions import Direction, build_directions, dot
from landscape.analyses.taylor.line import LineLoss
from landscape.analyses.taylor.report import Decomposition, DirectionReport, TaylorReport
from landscape.analyses.taylor.roundoff import NoiseEstimate, estimate_noise
from landscape.analyses.taylor.schedule import auto_rows
from landscape.analyses.taylor.settings import REQUIRED_ORDER, TaylorSettings, thresholds
from landscape.analyses.taylor.steps import (
    RESIDUALS,
    Residuals,
    m_over_6,
    regimes,
    residual_rows,
    taylor_steps,
    trust_radius,
)
from landscape.analyses.taylor.verdicts import (
    Advice,
    check_residual,
    direction_verdict,
    expected_orders,
    ggn_notes,
    nonlinearity_matters,
    order_notes,
    run_verdict,
)
from landscape.curvature import CurvatureOperator
from landscape.problem import Problem


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
    etas = None if settings.etas is None else sorted(settings.etas, reverse=True)
    V = torch.stack([d.vector for d in directions], dim=1)
    HV, GV = hessian.matmat(V), ggn.matmat(V)
    reports = []
    for j, direction in enumerate(directions):
        tell(direction.name, j)
        curv = (dot(V[:, j], HV[:, j]), dot(V[:, j], GV[:, j]))
        reports.append(measure_direction(line, gradient, direction, curv, etas))
    return TaylorReport(
        passed=all(r.status in ("passed", "not-checked") for r in reports),
        verdict=run_verdict([r.status for r in reports]),
        loss=line.base,
        num_params=problem.num_params,
        num_tensors=len(problem.params),
        num_targets=problem.num_targets,
        num_samples=problem.num_samples,
        dtype=str(problem.dtype).replace("torch.", ""),
        device=str(problem.device),
        strategy=getattr(hessian, "strategy", "dense"),
        machine_epsilon=torch.finfo(problem.dtype).eps,
        etas=etas or [],
        steps_chosen="given" if etas else "per direction",
        thresholds=thresholds(),
        directions=reports,
        skipped=skipped,
        hessian_products=hessian.products - h0 - eigen_products,
        ggn_products=ggn.products - g0,
        eigen_products=eigen_products,
        loss_evaluations=line.evaluations,
        seconds=time.perf_counter() - start,
    )


def measure_direction(
    line: LineLoss, gradient: Tensor, direction: Direction, curv, etas
) -> DirectionReport:
    d = direction.vector
    hd, gd_curv = curv
    decomposition = Decomposition(dot(gradient, d), 0.5 * gd_curv, 0.5 * (hd - gd_curv), 0.5 * hd)
    reference = line.reference_pieces()
    noise = estimate_noise(line, d)

    def rows_at(steps: list[float]) -> list[Residuals]:
        samples = [line.sample(d, eta, gradient, reference) for eta in steps]
        return residual_rows(line, steps, samples, decomposition, noise.sigma)

    rows = auto_rows(lambda eta: rows_at([eta])[0]) if etas is None else rows_at(etas)
    dtype_name = str(d.dtype).replace("torch.", "")
    return judge(direction, rows, decomposition, noise, line, dtype_name, etas is None)


def judge(
    direction: Direction,
    rows: list[Residuals],
    dec: Decomposition,
    noise: NoiseEstimate,
    line: LineLoss,
    dtype_name: str,
    auto: bool = False,
) -> DirectionReport:
    t_matters = nonlinearity_matters(dec, line.eps)
    expected = expected_orders(t_matters)
    checks, runs = [], {}
    for key in RESIDUALS:
        check, runs[key] = check_residual(
            rows, key, expected[key], REQUIRED_ORDER.get(key), Advice(dtype_name, auto)
        )
        checks.append(check)
    by_key = {c.residual: c for c in checks}
    status, reason = direction_verdict(by_key, rows, line.nonsmooth)
    radius, unbounded = trust_radius(rows)
    r2_order = by_key["r2_hessian"].order
    return DirectionReport(
        name=direction.name,
        passed=status == "passed",
        status=status,
        reason=reason,
        order_r1=by_key["r1"].order,
        order_r2_hessian=r2_order,
        order_r2_ggn=by_key["r2_ggn"].order,
        r2_ggn_expected_order=int(expected["r2_ggn"]),
        m_over_6=m_over_6(rows, runs["r2_hessian"]),
        m_over_6_converged=r2_order is not None and abs(r2_order - 3.0) <= 0.15,
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
        steps=taylor_steps(rows, {key: regimes(rows, key, runs[key]) for key in RESIDUALS}),
        vector=direction.vector,
    )
