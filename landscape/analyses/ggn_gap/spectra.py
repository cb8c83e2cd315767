"""Extreme eigenpairs of G and of T = H − G by Lanczos, and their reported form."""

from __future__ import annotations

from dataclasses import replace

import torch

from landscape.analyses.ggn_gap.products import solve
from landscape.analyses.ggn_gap.report import Spectra
from landscape.analyses.ggn_gap.settings import GgnGapSettings
from landscape.estimators.results import Eigenpair, EigenResult
from landscape.problem import Problem


def ggn_eigenpairs(
    problem: Problem, G, settings: GgnGapSettings, progress=None
) -> tuple[EigenResult, str | None]:
    """G's extremes and a note on its bottom end.

    When rank G ≤ N·rank(H_L) ≤ p − k, G's k smallest eigenvalues are 0 exactly (G is PSD
    and singular); they are reported as 0 with bound 0 and only the top is solved for.
    Otherwise both ends are solved (the solver's budget, which grows with k, unless the
    settings cap it) and a bottom that reaches 0 is reported as intervals (`psd_bottom`).
    """
    k, rank = settings.k, G.rank_bound()
    if problem.num_params - rank >= k:
        eig = solve(G, k, 0, settings, progress)
        eig = replace(eig, bottom=[Eigenpair(0.0, 0.0, True) for _ in range(k)])
        note = (
            f"bottom eigenvalues exactly 0: rank G ≤ N·rank H_L = {rank} < p = {problem.num_params}"
        )
        return eig, note
    eig = solve(G, k, k, settings, progress)
    return psd_bottom(
        G, eig, settings.tol, lambda: solve(G, k, k, settings, progress, multiplicity=True)
    )


def psd_bottom(G, eig: EigenResult, tol: float, recount=None) -> tuple[EigenResult, str | None]:
    """The bottom of a PSD G that reaches 0, as the intervals [0, μ_i] that hold its i-th
    smallest eigenvalue whatever the multiplicities, and only those within tol·max|λ|.

    A trained network's G has a cluster at 0 (the softmax's shift directions are exact zeros;
    fit examples add a continuum): one Krylov space holds one copy of each eigenvalue there,
    so a Ritz value θ_i ± r_i bounds *some* eigenvalue, not the i-th smallest (measured: the
    2nd to 5th listed 1.3e-7 ... 3.5e-7 where G has 9 zeros). Courant–Fischer gives λ_i ≤ μ_i,
    the largest Rayleigh quotient on the span of the first i bottom Ritz vectors (k products),
    and λ_i ≥ 0: the pair is μ_i/2 ± μ_i/2. When some interval is wider than tol·max|λ|,
    `recount()` re-solves with locked restarts (more copies of the cluster); those still too
    wide are left out, and the note says how many were listed.
    """
    limit = tol * eig.scale
    if not eig.bottom or eig.bottom[0].value - eig.bottom[0].error_bound > limit:
        return eig, None  # the bottom is clear of 0: the Ritz certificates say it all
    bottom = _intervals(G, eig, limit)
    if not all(e.converged for e in bottom) and recount is not None:
        eig = recount()
        limit = tol * eig.scale
        bottom = _intervals(G, eig, limit)
    listed = [e for e in bottom if e.converged] or bottom[:1]
    note = (
        "a cluster at 0 (G is PSD): the i-th smallest eigenvalue lies in [0, μ_i], μ_i the "
        "largest Rayleigh quotient on the span of the first i Ritz vectors (no multiplicity "
        "can undercut it), printed as μ_i/2 ± μ_i/2"
    )
    if len(listed) < len(bottom):
        note += (
            f"; only {len(listed)} listed: a Krylov space holds one copy of each eigenvalue, so "
            "the next ones may be 0 too"
        )
    converged = all(e.converged for e in eig.top + listed)
    return replace(eig, bottom=listed, converged=converged), note


def _intervals(G, eig: EigenResult, limit: float) -> list[Eigenpair]:
    upper = _courant_fischer(eig.bottom_vectors, G.matmat(eig.bottom_vectors))
    return [Eigenpair(mu / 2, mu / 2, mu / 2 <= limit) for mu in upper]


def _courant_fischer(X, GX) -> list[float]:
    """μ_i = max of xᵀGx/xᵀx over the span of X's first i columns (i = 1..k), ≥ 0."""
    X, GX = X.double(), GX.double()
    out = []
    for i in range(1, X.shape[1] + 1):
        L = torch.linalg.cholesky(X[:, :i].T @ X[:, :i])  # the columns' Gram matrix
        A = X[:, :i].T @ GX[:, :i]
        B = torch.linalg.solve_triangular(L, (A + A.T) / 2, upper=False)
        C = torch.linalg.solve_triangular(L, B.T, upper=False)  # L⁻¹ A L⁻ᵀ
        out.append(max(float(torch.linalg.eigvalsh((C + C.T) / 2)[-1]), 0.0))
    return out


def difference_eigenpairs(
    T, k: int, settings: GgnGapSettings, h_scale: float, t_norm: float, progress=None
) -> EigenResult:
    """Extreme eigenpairs of T = H − G, converged at tol·max(|λ_T|, |λ_H|).

    T's products are differences of H and G products and carry rounding of order eps·‖H‖,
    so T is resolved relative to H's scale, not its own (which is rounding noise when T = 0).
    The solver's own relative tol is loosened by h_scale/(1.5·‖T‖_F) (‖T‖_F ≥ |λ_T|, here a
    probe estimate), so that it stops no earlier than the criterion above is met.
    """
    solver_tol = settings.tol
    if h_scale > 0:
        solver_tol = settings.tol * max(1.0, h_scale / (1.5 * t_norm)) if t_norm > 0 else 1.0
    eig = solve(T, k, k, settings, progress, tol=solver_tol)
    threshold = settings.tol * max(eig.scale, h_scale)
    top, bottom = ([_judged(e, threshold) for e in pairs] for pairs in (eig.top, eig.bottom))
    converged = all(e.converged for e in top + bottom)
    return replace(eig, top=top, bottom=bottom, converged=converged, tol=settings.tol)


def _judged(e: Eigenpair, threshold: float) -> Eigenpair:
    return replace(e, converged=e.error_bound <= threshold)


def to_spectra(eig: EigenResult, method: str, note: str | None = None) -> Spectra:
    converged = all(e.converged for e in eig.top + eig.bottom)
    return Spectra(eig.top, eig.bottom, converged, eig.products, method, note)
