"""Curvature sharpness: the extreme Hessian eigenvalues and stability against 2/η.

λ_max and λ_min come from Lanczos with certified residual bounds. Plain GD on the local
quadratic is stable for η < 2/λ_max, heavy-ball momentum β for η < (2 + 2β)/λ_max (momentum.py);
the margin is η·λ_max/limit (> 1: beyond the edge of stability).
"""

from __future__ import annotations

from collections.abc import Callable

from landscape.analyses.sharpness.momentum import Momentum
from landscape.analyses.sharpness.report import SharpnessSettings, Stability
from landscape.curvature import CurvatureOperator
from landscape.estimators.lanczos import extreme_eigenpairs
from landscape.estimators.results import Eigenpair, EigenResult, SolverInfo


def extreme_pairs(
    op: CurvatureOperator,
    settings: SharpnessSettings,
    top: bool,
    bottom: bool,
    progress: Callable[[int], None],
) -> EigenResult:
    """The k_top largest (when `top`) and k_bottom smallest (when `bottom`) eigenpairs."""
    return extreme_eigenpairs(
        op,
        max(1, settings.k_top) if top else 0,
        max(1, settings.k_bottom) if bottom else 0,
        tol=settings.tol,
        max_products=settings.max_products,
        seed=settings.seed,
        progress=progress,
        basis_budget=settings.basis_budget,
    )


def solver_info(eig: EigenResult | None) -> SolverInfo | None:
    if eig is None:
        return None
    return SolverInfo.of(eig)


def stability_of(
    top: Eigenpair, lr: float, source: str, momentum: Momentum = Momentum()
) -> Stability:
    """Stability on the local quadratic: η·λ_max below the method's limit (2 for GD,
    2 + 2β for heavy-ball momentum; see momentum.py and MATH.md, 001)."""
    limit = momentum.limit
    margin, bound = lr * top.value / limit, lr * top.error_bound / limit
    edge = limit / top.value if top.value > 0 else None
    product = lr * top.value
    method = "gradient descent" if momentum.beta == 0 else f"SGD with {momentum.name}"
    if top.value <= 0:
        verdict = "no positive curvature: the step size is not limited by curvature here"
    elif margin - bound > 1:
        verdict = (
            f"beyond the edge of stability: η·λ_max = {product:.4g} > {limit:.4g}, "
            f"{method} with η = {lr:g} would grow along the top eigenvector"
        )
    elif margin + bound >= 0.9:
        verdict = f"at the edge of stability: η·λ_max = {product:.4g} is within 10% of {limit:.4g}"
    else:
        verdict = (
            f"stable: η·λ_max = {product:.4g} < {limit:.4g} (η could grow {1 / margin:.3g}× "
            f"before {method} turns unstable)"
        )
    return Stability(
        lr, source, edge, margin, bound, verdict, momentum.name, momentum.source, limit
    )
