"""Extreme eigenpairs of G and of T = H − G by Lanczos, and their reported form."""

from __future__ import annotations

from dataclasses import replace

from landscape.analyses.ggn_gap.products import solve
from landscape.analyses.ggn_gap.report import Spectra
from landscape.analyses.ggn_gap.settings import GgnGapSettings
from landscape.estimators.psd import psd_bottom
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
