"""The probe route: Lanczos spectra and Rademacher-probe estimates, for models of any size."""

from __future__ import annotations

from landscape.analyses.ggn_gap.fisher import ef_gap, fisher_check
from landscape.analyses.ggn_gap.parts import Eigen, GapPart, frobenius_gap
from landscape.analyses.ggn_gap.products import Ledger, apply_blocked, probes, solve
from landscape.analyses.ggn_gap.settings import GgnGapSettings
from landscape.analyses.ggn_gap.spectra import (
    difference_eigenpairs,
    ggn_eigenpairs,
    to_spectra,
)
from landscape.curvature import (
    DifferenceOperator,
    EmpiricalFisherOperator,
    FisherOperator,
)
from landscape.estimators.frobenius import frobenius_norm
from landscape.problem import Problem


def probe_part(
    problem: Problem, settings: GgnGapSettings, ledger: Ledger, H, G, strategy: str
) -> GapPart:
    """Lanczos spectra and probe estimates: the route for models of any size."""
    k = settings.k
    V = probes(problem, settings)
    HV, GV = apply_blocked(H, V), apply_blocked(G, V)
    ledger.tell("probes")(0)
    h_eig = solve(H, k, k, settings, ledger.tell("H eigenvalues"))
    g_eig, ggn_note = ggn_eigenpairs(problem, G, settings, progress=ledger.tell("G eigenvalues"))
    t_eig = difference_eigenpairs(
        DifferenceOperator(H, G, "t"),
        k,
        settings,
        h_eig.scale,
        frobenius_norm(HV - GV, exact=False),
        progress=ledger.tell("T eigenvalues"),
    )
    FV, EFV, ef_eig, ef_products = _fisher_products(problem, settings, ledger, V, strategy)
    return GapPart(
        eig=Eigen(h_eig, g_eig, t_eig),
        hessian=to_spectra(h_eig, "lanczos"),
        ggn=to_spectra(g_eig, "lanczos", ggn_note),
        t=to_spectra(t_eig, "lanczos"),
        gap=frobenius_gap(HV, GV, exact=False),
        fisher=fisher_check(FV, GV, "probes", V.shape[1]),
        ef=ef_gap(EFV, GV, ef_eig, g_eig, ef_products, exact=False),
        operators=(H, G),
        mc_probes=V,
        mc_ggn=GV,
    )


def _fisher_products(problem: Problem, settings: GgnGapSettings, ledger: Ledger, V, strategy):
    """F V, EF V, EF's top eigenpairs and EF's products (each operator dropped once used)."""
    F = ledger.add("fisher", FisherOperator(problem, strategy=strategy))
    FV = apply_blocked(F, V)
    ledger.retire("fisher")
    EF = ledger.add("empirical_fisher", EmpiricalFisherOperator(problem, strategy))
    EFV = apply_blocked(EF, V)
    ef_eig = solve(EF, settings.k, 0, settings, ledger.tell("empirical Fisher"))
    ef_products = EF.products
    ledger.retire("empirical_fisher")
    return FV, EFV, ef_eig, ef_products
