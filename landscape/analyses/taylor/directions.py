"""The directions d that taylor-check walks along: built from θ (gradient, Hessian
eigenvectors, a random one) or loaded from the user's file."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from landscape.analyses.taylor.settings import TaylorSettings
from landscape.curvature import CurvatureOperator
from landscape.errors import InputError
from landscape.estimators.lanczos import extreme_eigenpairs
from landscape.problem import Problem

EIGEN_TOL = 1e-4
EIGEN_ENDS = ("top-eigenvector", "bottom-eigenvector")


@dataclass(frozen=True)
class Direction:
    name: str
    vector: Tensor  # unit norm, working dtype
    eigenvalue: float | None = None
    error_bound: float | None = None


def build_directions(
    problem: Problem, gradient: Tensor, hessian: CurvatureOperator, settings: TaylorSettings
) -> tuple[list[Direction], list[str], int]:
    """Unit directions, each oriented downhill (gᵀd ≤ 0). Returns them, the skipped ones with
    the reason, and the Hessian products the eigenvectors cost."""
    out, skipped, products = [], [], 0
    wanted = settings.directions
    if settings.direction_vector is not None:
        out.append(Direction(settings.direction_label, unit(settings.direction_vector)))
    if "gradient" in wanted:
        if float(gradient.norm()) > 0:
            out.append(Direction("gradient", unit(-gradient)))
        else:
            skipped.append("gradient: g = 0 at θ, it has no direction")
    eig_ends = [w for w in EIGEN_ENDS if w in wanted]
    if eig_ends:
        eigen, products = eigen_directions(
            hessian, gradient, eig_ends, settings.seed, settings.basis_budget
        )
        out.extend(eigen)
    if "random" in wanted:
        gen = torch.Generator().manual_seed(settings.seed)
        v = torch.randn(problem.num_params, generator=gen, dtype=torch.float64)
        out.append(Direction("random", downhill(v.to(problem.dtype), gradient)))
    if not out:
        raise InputError(
            "no direction left to check (" + "; ".join(skipped) + ")",
            "choose `direction`=random or give `direction_file`",
            ("direction", "direction_file"),
        )
    return out, skipped, products


def eigen_directions(
    hessian: CurvatureOperator, gradient: Tensor, ends: list[str], seed: int, basis_budget=None
) -> tuple[list[Direction], int]:
    """The Hessian's top and/or bottom eigenvectors (downhill) and the products they cost."""
    before = hessian.products
    eig = extreme_eigenpairs(
        hessian,
        int("top-eigenvector" in ends),
        int("bottom-eigenvector" in ends),
        tol=EIGEN_TOL,
        seed=seed,
        basis_budget=basis_budget,
    )
    found = (
        ("top-eigenvector", eig.top, eig.top_vectors),
        ("bottom-eigenvector", eig.bottom, eig.bottom_vectors),
    )
    out = [  # the solver keeps its vectors in float64; the line runs in the problem's dtype
        Direction(
            name, downhill(v[:, 0].to(gradient), gradient), pairs[0].value, pairs[0].error_bound
        )
        for name, pairs, v in found
        if name in ends
    ]
    return out, hessian.products - before


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


def unit(v: Tensor) -> Tensor:
    return v / v.norm()


def downhill(v: Tensor, gradient: Tensor) -> Tensor:
    v = unit(v)
    return -v if dot(gradient, v) > 0 else v


def dot(a: Tensor, b: Tensor) -> float:
    return float(a.double() @ b.double())
