"""The bottom of a PSD operator that reaches 0, as intervals that hold its i-th smallest
eigenvalues whatever their multiplicities (shared by `spectrum` and `ggn-gap`)."""

from __future__ import annotations

from dataclasses import replace

import torch

from landscape.estimators.results import Eigenpair, EigenResult

CLUSTER_AT_ZERO = "a cluster at 0"  # how psd_bottom's note begins: its pairs are intervals


def psd_bottom(
    op, eig: EigenResult, tol: float, recount=None, name: str = "G"
) -> tuple[EigenResult, str | None]:
    """The bottom of a PSD `op` that reaches 0, as the intervals [0, μ_i] that hold its i-th
    smallest eigenvalue whatever the multiplicities, and only those within tol·max|λ|.

    A trained network's G has a cluster at 0 (the softmax's shift directions are exact zeros;
    fit examples add a continuum): one Krylov space holds one copy of each eigenvalue there,
    so a Ritz value θ_i ± r_i bounds *some* eigenvalue, not the i-th smallest (measured: the
    2nd to 5th listed 1.3e-7 ... 3.5e-7 where G has 9 zeros). Courant–Fischer gives λ_i ≤ μ_i,
    the largest Rayleigh quotient on the span of the first i bottom Ritz vectors (k products),
    and λ_i ≥ 0: the pair is μ_i/2 ± μ_i/2. When some interval is wider than tol·max|λ|,
    `recount()` re-solves with locked restarts (more copies of the cluster); those still too
    wide are left out, and the note says how many were listed. `name` names op in the note.
    A Krylov space that grew to all p dimensions has every eigenvalue, repeated ones included,
    among its Ritz values: its pairs stand as they are.
    """
    limit = tol * eig.scale
    if not eig.bottom or eig.bottom[0].value - eig.bottom[0].error_bound > limit:
        return eig, None  # the bottom is clear of 0: the Ritz certificates say it all
    if eig.krylov_dim >= op.num_params:
        return eig, None  # the Krylov space is the whole space: every copy is a Ritz value
    bottom = _intervals(op, eig, limit)
    if not all(e.converged for e in bottom) and recount is not None:
        eig = recount()
        limit = tol * eig.scale
        bottom = _intervals(op, eig, limit)
    listed = [e for e in bottom if e.converged] or bottom[:1]
    note = (
        f"{CLUSTER_AT_ZERO} ({name} is PSD): the i-th smallest eigenvalue lies in [0, μ_i], "
        "μ_i the largest Rayleigh quotient on the span of the first i Ritz vectors (no "
        "multiplicity can undercut it; as a pair μ_i/2 ± μ_i/2)"
    )
    if len(listed) < len(bottom):
        note += (
            f"; only {len(listed)} listed: a Krylov space holds one copy of each eigenvalue, so "
            "the next ones may be 0 too"
        )
    converged = all(e.converged for e in eig.top + listed)
    return replace(eig, bottom=listed, converged=converged), note


def _intervals(op, eig: EigenResult, limit: float) -> list[Eigenpair]:
    upper = courant_fischer(eig.bottom_vectors, op.matmat(eig.bottom_vectors))
    return [Eigenpair(mu / 2, mu / 2, mu / 2 <= limit) for mu in upper]


def courant_fischer(X, AX) -> list[float]:
    """μ_i = max of xᵀAx/xᵀx over the span of X's first i columns (i = 1..k), clipped at 0
    from below (A PSD): the i-th smallest eigenvalue of A is at most μ_i."""
    X, AX = X.double(), AX.double()
    out = []
    for i in range(1, X.shape[1] + 1):
        L = torch.linalg.cholesky(X[:, :i].T @ X[:, :i])  # the columns' Gram matrix
        A = X[:, :i].T @ AX[:, :i]
        B = torch.linalg.solve_triangular(L, (A + A.T) / 2, upper=False)
        C = torch.linalg.solve_triangular(L, B.T, upper=False)  # L⁻¹ A L⁻ᵀ
        out.append(max(float(torch.linalg.eigvalsh((C + C.T) / 2)[-1]), 0.0))
    return out
