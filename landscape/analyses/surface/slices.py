"""The 1D slices `sharpness` draws: L(θ + t·d) along a unit eigenvector or a random direction.

Directions are a unit vector given by the caller (e.g. the top Hessian eigenvector, with its
quadratic model beside it) or filter-normalised random directions (Li et al. 2018,
"Visualizing the loss landscape of neural nets"; biases get no component).

An even grid drawn as a polyline puts a false kink at a sharp minimum (41 points over [−1, 1]
turned 69° at the sample's minimum along its top eigenvector, where the loss is smooth), so
each slice is refined: midpoints go in where the drawn curve bends by more than MAX_TURN, until
it bends less everywhere or as many points again were spent.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from landscape.analyses.surface.checks import check_range, check_values
from landscape.analyses.surface.directions import filter_normalised_direction
from landscape.problem import Problem


@dataclass(frozen=True)
class LossSlice:
    label: str
    kind: str  # "eigenvector" | "filter-normalised"
    t: list[float]
    loss: list[float]
    quadratic: list[float] | None = None  # L + t·gᵀd + ½t²·λ along the eigenvector


def slice_grid(radius: float, points: int) -> Tensor:
    """`points` values of t evenly spaced over [−radius, radius] (float64)."""
    check_range(-radius, radius, "slices' interval")
    return torch.linspace(-radius, radius, points, dtype=torch.float64)


MAX_TURN = 10.0  # degrees: a polyline that turns more than this at a point shows a corner
ASPECT = 0.6  # a panel's height over its width, for the angles as drawn


def loss_slice(problem: Problem, direction: Tensor, t: Tensor) -> tuple[list[float], list[float]]:
    """(t, L(θ + t·d)): the grid t, refined where the drawn curve bends (see the module doc)."""
    theta = problem.flat_params()
    ts = [float(s) for s in t]
    pairs = [(s, problem.loss_at(theta + s * direction)) for s in ts]
    for _ in range(len(ts) // 2):
        i = sharpest_bend(pairs)
        if i is None:
            break
        for s in {(pairs[i - 1][0] + pairs[i][0]) / 2, (pairs[i][0] + pairs[i + 1][0]) / 2}:
            bisect.insort(pairs, (s, problem.loss_at(theta + s * direction)))
    ts, values = [s for s, _ in pairs], [v for _, v in pairs]
    check_values(
        torch.tensor(values, dtype=torch.float64),
        torch.tensor(ts, dtype=torch.float64),
        "loss on a slice",
        "t = {}",
    )
    return ts, values


def sharpest_bend(pairs: list[tuple[float, float]]) -> int | None:
    """The inner point where the polyline through (t, L) turns most, when that is more than
    MAX_TURN on a linear and (losses > 0) on a log axis as drawn; None when it turns less
    everywhere, or a loss is not finite."""
    t, y = np.array(pairs, dtype=float).T
    if len(t) < 3 or not np.isfinite(y).all() or t[-1] <= t[0]:
        return None
    turns = np.zeros(len(t) - 2)
    for shown in (y, np.log(y)) if (y > 0).all() else (y,):
        span = shown.max() - shown.min()
        if span > 0:
            angle = np.arctan2(ASPECT * np.diff(shown) / span, np.diff(t) / (t[-1] - t[0]))
            turns = np.maximum(turns, np.abs(np.diff(angle)))
    i = int(np.argmax(turns)) if len(turns) else 0
    return i + 1 if len(turns) and turns[i] > math.radians(MAX_TURN) else None


def eigen_slice(
    problem: Problem,
    vector: Tensor,
    eigenvalue: float,
    t: Tensor,
    loss: float,
    label: str = "top eigenvector",
) -> LossSlice:
    """L along a unit eigenvector v, with its quadratic model L + t·gᵀv + ½λt²."""
    slope = float(problem.gradient().double() @ vector.double())
    ts, losses = loss_slice(problem, vector, t)
    quad = [loss + s * slope + 0.5 * eigenvalue * s**2 for s in ts]
    return LossSlice(label, "eigenvector", ts, losses, quad)


def random_slices(problem: Problem, count: int, t: Tensor, seed: int) -> list[LossSlice]:
    """L along `count` filter-normalised random directions, drawn from one seeded stream."""
    gen = torch.Generator().manual_seed(int(seed))
    slices = []
    for i in range(count):
        d = filter_normalised_direction(problem, gen)
        ts, losses = loss_slice(problem, d, t)
        slices.append(LossSlice(f"random direction {i + 1}", "filter-normalised", ts, losses))
    return slices
