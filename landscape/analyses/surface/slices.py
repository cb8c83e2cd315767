"""The 1D slices `sharpness` draws: L(θ + t·d) along a unit eigenvector or a random direction.

Directions are a unit vector given by the caller (e.g. the top Hessian eigenvector, with its
quadratic model beside it) or filter-normalised random directions (Li et al. 2018,
"Visualizing the loss landscape of neural nets"; biases get no component).
"""

from __future__ import annotations

from dataclasses import dataclass

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


def loss_slice(problem: Problem, direction: Tensor, t: Tensor) -> list[float]:
    theta = problem.flat_params()
    values = [problem.loss_at(theta + float(s) * direction) for s in t]
    check_values(torch.tensor(values, dtype=torch.float64), t, "loss on a slice", "t = {}")
    return values


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
    quad = [loss + float(s) * slope + 0.5 * eigenvalue * float(s) ** 2 for s in t]
    return LossSlice(label, "eigenvector", t.tolist(), loss_slice(problem, vector, t), quad)


def random_slices(problem: Problem, count: int, t: Tensor, seed: int) -> list[LossSlice]:
    """L along `count` filter-normalised random directions, drawn from one seeded stream."""
    gen = torch.Generator().manual_seed(int(seed))
    slices = []
    for i in range(count):
        d = filter_normalised_direction(problem, gen)
        slices.append(
            LossSlice(
                f"random direction {i + 1}",
                "filter-normalised",
                t.tolist(),
                loss_slice(problem, d, t),
            )
        )
    return slices
