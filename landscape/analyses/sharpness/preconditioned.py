"""Adam's preconditioned sharpness λ_max(D^-1/2 H D^-1/2) on the coordinates Adam has moved.

A coordinate whose second moment v̂ is exactly 0 had a zero gradient at every step Adam took
(v is an EMA of g² with positive weights): a dead unit, a weight no batch reached. Adam has
never moved it, and its D = ε makes D^-1/2 H D^-1/2 scale its curvature by 1/ε (1e8): the
frozen-preconditioner model of Adam's step (adam.py) says nothing about such a coordinate, and
its row can swamp the top eigenvalue (issue 20: 99.996% of the top eigenvector on them).

By default those coordinates K̄ are left out: the operator is (S H S)[K, K] on the kept
coordinates K alone (S = D^-1/2), an operator of size |K| (scatter into p, multiply, gather),
not S H S with K̄'s rows zeroed, whose |K̄| zero eigenvalues would join the spectrum. Its top
eigenvalue is the margin's. What was left out is reported: how many, and the share of the FULL
operator's (S H S on all p coordinates, the number Adam would be judged by without this rule)
top eigenvector on them, which says how much of that number the left-out coordinates made.
That costs a second Lanczos solve, of the full operator, run only when something was left out.

The share carries a bound: for a unit Ritz vector x with residual r and δ the distance from
its Ritz value to the spectrum outside λ_max's eigenspace E, sin∠(x, E) ≤ r/δ (Davis–Kahan),
so with u the unit vector of E nearest x, |‖x_K̄‖ − ‖u_K̄‖| ≤ ‖x − u‖ ≤ √2·r/δ. δ is taken as
θ₁ − θ₂ − r₂ from the top two Ritz pairs: Lanczos sees each distinct eigenvalue once, so a
repeated λ_max (dead units alike) only makes u one of its eigenvectors, the one nearest x; a
distinct eigenvalue it never found between θ₂ and θ₁ would void δ, as it would λ_max's rank.
The solve costs what a λ_max costs (its `products` are reported); unconverged, or θ₁ − θ₂ ≤ r₂,
the share is that of the Ritz vector, with no interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from landscape.analyses.sharpness.report import LeftOut
from landscape.curvature.base import CurvatureOperator, ScaledOperator
from landscape.estimators.lanczos import extreme_eigenpairs
from landscape.estimators.results import Eigenpair, EigenResult


class KeptCoordinates(CurvatureOperator):
    """(S A S)[K, K] for a diagonal S and kept coordinates K, an operator on R^|K|."""

    name = "preconditioned"
    batched = True  # the parent decides how to take a block

    def __init__(self, parent: CurvatureOperator, scale: Tensor, kept: Tensor):
        super().__init__(int(kept.numel()), parent.dtype, parent.device)
        self.parent = parent
        self.kept = kept.to(parent.device)
        self.scale = scale.to(dtype=parent.dtype, device=parent.device)[self.kept].reshape(-1, 1)

    @property
    def products(self) -> int:
        return self.parent.products

    def _matmat(self, V: Tensor) -> Tensor:
        full = V.new_zeros(self.parent.num_params, V.shape[1])
        full[self.kept] = self.scale * V
        return self.scale * self.parent.matmat(full)[self.kept]


@dataclass(frozen=True)
class Preconditioned:
    pair: Eigenpair | None  # λ_max on the kept coordinates (None: none kept)
    kept: int  # coordinates in the operator
    unmoved: int  # coordinates with v̂ = 0, left out or not
    left_out: LeftOut | None  # None: nothing left out


def preconditioned_sharpness(
    op: CurvatureOperator,
    scale: Tensor,
    unmoved: Tensor,
    keep_unmoved: bool,
    solve: Callable[[CurvatureOperator, int], EigenResult],
) -> Preconditioned:
    """λ_max of S H S (S = D^-1/2) on the coordinates Adam moved, or on all of them when
    `keep_unmoved`; `solve(operator, k)` runs Lanczos for the top k."""
    count = int(unmoved.sum())
    if keep_unmoved or count == 0:
        pair = solve(ScaledOperator(op, scale), 1).top[0]
        return Preconditioned(pair, op.num_params, count, None)
    kept = torch.nonzero(~unmoved.to(torch.bool)).reshape(-1)
    pair = solve(KeptCoordinates(op, scale, kept), 1).top[0] if kept.numel() else None
    return Preconditioned(pair, int(kept.numel()), count, left_out_share(op, scale, unmoved, solve))


def left_out_share(op, scale: Tensor, unmoved: Tensor, solve) -> LeftOut:
    """The full operator's λ_max and the share of its top eigenvector on `unmoved`, bounded."""
    start = op.products
    result = solve(ScaledOperator(op, scale), min(2, op.num_params))
    x = result.top_vectors[:, 0].double()
    mask = unmoved.to(device=x.device, dtype=torch.bool)
    share = float(x[mask].square().sum() / x.square().sum())
    low, high = _share_interval(share, result.top)
    return LeftOut(int(mask.sum()), result.top[0], share, low, high, op.products - start)


def _share_interval(share: float, top: list[Eigenpair]) -> tuple[float | None, float | None]:
    """[low, high] ∋ ‖u_K̄‖² from |‖x_K̄‖ − ‖u_K̄‖| ≤ √2·r₁/δ, δ = θ₁ − θ₂ − r₂."""
    if len(top) < 2:  # a 1×1 operator: its eigenvector is exact
        return share, share
    gap = top[0].value - top[1].value - top[1].error_bound
    if not top[0].converged or not gap > 0:
        return None, None
    reach = math.sqrt(2) * top[0].error_bound / gap
    root = math.sqrt(share)
    return max(0.0, root - reach) ** 2, min(1.0, root + reach) ** 2


def lanczos_solver(
    tol: float, max_products: int | None, seed: int, progress: Callable[[int], None] | None
) -> Callable[[CurvatureOperator, int], EigenResult]:
    """The top-k solve every preconditioned operator goes through (certified residuals)."""

    def solve(operator: CurvatureOperator, k: int) -> EigenResult:
        return extreme_eigenpairs(
            operator, k, 0, tol=tol, max_products=max_products, seed=seed, progress=progress
        )

    return solve
