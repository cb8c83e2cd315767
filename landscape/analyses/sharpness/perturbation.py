"""Perturbation sharpness: how much the loss rises within a box or a Gaussian around θ.

- ε-sharpness (Keskar et al. 2017, "On large-batch training ... sharp minima", metric 2.1 with
  A = I): max over the box |δ_i| ≤ ε(|θ_i| + 1) of L(θ+δ) − L(θ), in % of 1 + L(θ).
- Adaptive worst-case sharpness (Andriushchenko et al. 2023, "A modern look at the
  relationship between sharpness and generalization", eq. 2 with c = |θ|, p = ∞): the mean
  over batches S of m examples of max_{|δ_i| ≤ ρ|θ_i|} L_S(θ+δ) − L_S(θ); their defaults
  ρ = 0.001 (the repository's example for adaptive ℓ∞), m = 128, 20 ascent iterations.
- Adaptive average-case sharpness (same paper, eq. 3 with c = |θ|, p = 2):
  E_{δ∼N(0, ρ² diag(θ²))}[L(θ+δ) − L(θ)], ρ = 0.1 (their script's default), with a standard
  error; each δ is paired with −δ (antithetic), which cancels the gradient term's noise and
  leaves the expectation unchanged.

The two worst-case figures come from projected sign-gradient ascent in the box (the ℓ∞
steepest-ascent step, as in the authors' code): steps of α times the box half-width, α = 2 at
first so that a coordinate may cross the box in one step, halved after every step that does
not raise the loss. Every evaluated point lies in the box, so the result is a certified
*lower* bound of the maximum; `kkt` says whether the ascent stopped at a KKT point (every
coordinate at the face its gradient points to), a candidate local maximum.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from landscape.analyses.sharpness.report import (
    AdaptiveSharpness,
    AscentResult,
    AverageSharpness,
    EpsSharpness,
)
from landscape.errors import InputError
from landscape.problem import Problem


def box_ascent(
    value_grad: Callable[[Tensor], tuple[float, Tensor]],
    theta: Tensor,
    radius: Tensor,
    steps: int,
    generator: torch.Generator,
) -> AscentResult:
    """max over |δ_i| ≤ r_i of L(θ+δ) − L(θ) by projected sign-gradient ascent (see top)."""
    base, grad = value_grad(theta)
    delta = torch.zeros_like(theta)
    direction = torch.sign(grad)
    dead = (direction == 0) & (radius > 0)  # a zero gradient (e.g. at a minimum): random side
    if bool(dead.any()):
        coin = torch.randint(0, 2, theta.shape, generator=generator).to(theta) * 2 - 1
        direction = torch.where(dead, coin, direction)
    best, alpha, evaluations = 0.0, 2.0, 1
    for _ in range(steps):
        proposal = torch.clamp(delta + alpha * radius * direction, -radius, radius)
        if torch.equal(proposal, delta):
            break
        value, grad = value_grad(theta + proposal)
        evaluations += 1
        if value - base > best:
            best, delta, direction = value - base, proposal, torch.sign(grad)
        else:
            alpha /= 2
    kkt = bool(torch.equal(torch.clamp(delta + radius * direction, -radius, radius), delta))
    return AscentResult(best, evaluations, kkt, alpha)


def _finite(radius: Tensor, field: str, value: float) -> Tensor:
    """The perturbation's scale, refused when it overflows the run's dtype (every figure
    would be inf or NaN, printed as if it were an answer)."""
    if not bool(torch.isfinite(radius).all()):
        raise InputError(
            f"{field}={value:g} makes the perturbation overflow in {radius.dtype} "
            "(the loss there is not a number)",
            f"give a smaller {field} (perturbations are relative to |θ|, e.g. 1e-3)",
            field,
        )
    return radius


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def eps_sharpness(
    problem: Problem, loss: float, epsilon: float, steps: int, seed: int
) -> EpsSharpness:
    """Keskar ε-sharpness: the ascent's increase in the box ε(|θ| + 1), in % of 1 + L."""
    theta = problem.flat_params()
    radius = _finite(epsilon * (theta.abs() + 1), "eps_sharpness", epsilon)
    ascent = box_ascent(problem.loss_and_gradient, theta, radius, steps, _generator(seed))
    percent = 100 * ascent.increase / (1 + loss)
    return EpsSharpness(epsilon, percent, ascent.increase, ascent)


def adaptive_sharpness(
    problem: Problem,
    rho: float,
    chunk_size: int,
    steps: int,
    seed: int,
    progress: Callable[[int], None],
) -> AdaptiveSharpness:
    """The size-weighted mean over consecutive parts of `chunk_size` examples of each part's
    ascent in the box ρ|θ| (m-sharpness)."""
    theta = problem.flat_params()
    radius = _finite(rho * theta.abs(), "rho", rho)
    gen = _generator(seed)
    total, kkt, evaluations = 0.0, 0, 0
    parts = problem.subsets(chunk_size)
    for i, part in enumerate(parts):
        result = box_ascent(part.loss_and_gradient, theta, radius, steps, gen)
        total += result.increase * part.num_targets
        kkt += result.kkt
        evaluations += result.evaluations
        progress(i + 1)
    return AdaptiveSharpness(
        rho, chunk_size, len(parts), total / problem.num_targets, evaluations, kkt / len(parts)
    )


def average_sharpness(
    problem: Problem, loss: float, rho: float, samples: int, seed: int
) -> AverageSharpness:
    """E[L(θ+δ) − L(θ)], δ ~ N(0, ρ²θ²), from `samples` antithetic pairs ±δ."""
    theta = problem.flat_params()
    sigma = _finite(rho * theta.abs(), "avg_rho", rho)
    gen = _generator(seed)
    values = []
    for _ in range(samples):
        z = torch.randn(theta.shape, generator=gen, dtype=torch.float64).to(theta)
        delta = sigma * z
        pair = 0.5 * (problem.loss_at(theta + delta) + problem.loss_at(theta - delta))
        values.append(pair - loss)
    values_t = torch.tensor(values, dtype=torch.float64)
    n = len(values)
    stderr = float(values_t.std(unbiased=True)) / math.sqrt(n) if n > 1 else math.inf
    return AverageSharpness(rho, n, float(values_t.mean()), stderr)
