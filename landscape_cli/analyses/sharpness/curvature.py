"""Curvature sharpness: the extreme Hessian eigenvalues and stability against 2/η.

λ_max and λ_min come from Lanczos with certified residual bounds. Plain GD on the local
quadratic is stable for η < 2/λ_max; the margin is η·λ_max/2 (> 1: beyond the edge of
stability).
"""

from __future__ import annotations

from collections.abc import Callable

from landscape_cli.analyses.sharpness.report import SharpnessSettings, Stability
from landscape_cli.analyses.spectrum import SolverInfo
from landscape_cli.curvature import CurvatureOperator
from landscape_cli.estimators.lanczos import extreme_eigenpairs
from landscape_cli.estimators.results import Eigenpair, EigenResult


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
    )


def solver_info(eig: EigenResult | None) -> SolverInfo | None:
    if eig is None:
        return None
    return SolverInfo(
        eig.converged, eig.tol, eig.products, eig.restarts, eig.krylov_dim, eig.seconds, eig.basis
    )


def stability_of(top: Eigenpair, lr: float, source: str) -> Stability:
    """GD stability on the local quadratic: stable iff η·λ_max < 2 (MATH.md, 001)."""
    margin, bound = lr * top.value / 2, lr * top.error_bound / 2
    edge = 2 / top.value if top.value > 0 else None
    product = 2 * margin
    if top.value <= 0:
        verdict = "no positive curvature: the step size is not limited by curvature here"
    elif margin - bound > 1:
        verdict = (
            f"beyond the edge of stability: η·λ_max = {product:.4g} > 2, gradient "
            f"descent with η = {lr:g} would grow along the top eigenvector"
        )
    elif margin + bound >= 0.9:
        verdict = f"at the edge of stability: η·λ_max = {product:.4g} is within 10% of 2"
    else:
        verdict = (
            f"stable: η·λ_max = {product:.4g} < 2 (η could grow {1 / margin:.3g}× "
            "before gradient descent turns unstable)"
        )
    return Stability(lr, source, edge, margin, bound, verdict)
