"""The exact route: dense H, G, F and EF (p products each) and their eigen-decompositions."""

from __future__ import annotations

from landscape.analyses.ggn_gap.fisher import ef_gap, fisher_check
from landscape.analyses.ggn_gap.parts import Eigen, GapPart, frobenius_gap
from landscape.analyses.ggn_gap.products import Ledger, probes
from landscape.analyses.ggn_gap.settings import GgnGapSettings
from landscape.analyses.ggn_gap.spectra import to_spectra
from landscape.curvature import DenseOperator, EmpiricalFisherOperator, FisherOperator
from landscape.estimators.dense import dense_eigenpairs
from landscape.problem import Problem


def exact_part(
    problem: Problem, settings: GgnGapSettings, ledger: Ledger, H, G, strategy: str
) -> GapPart:
    """Dense matrices (p products each) and their exact eigen-decompositions."""
    Hd, Gd, Fd, EFd = _dense_matrices(problem, ledger, H, G, strategy)
    k = settings.k
    eig = Eigen(
        hessian=dense_eigenpairs(Hd, k, k),
        ggn=dense_eigenpairs(Gd, k, k),
        t=dense_eigenpairs(Hd - Gd, k, k),
    )
    ef_eig = dense_eigenpairs(EFd, k, 0)
    V = probes(problem, settings)
    return GapPart(
        eig=eig,
        hessian=to_spectra(eig.hessian, "dense"),
        ggn=to_spectra(eig.ggn, "dense"),
        t=to_spectra(eig.t, "dense"),
        gap=frobenius_gap(Hd, Gd, exact=True),
        fisher=fisher_check(Fd, Gd, "exact", problem.num_params),
        ef=ef_gap(EFd, Gd, ef_eig, eig.ggn, problem.num_params, exact=True),
        operators=(DenseOperator(Hd), DenseOperator(Gd, psd=True)),
        mc_probes=V,
        mc_ggn=Gd @ V,
        dense=(Hd, Gd),
    )


def _dense_matrices(problem: Problem, ledger: Ledger, H, G, strategy: str):
    """Dense H, G, F and EF (F and EF dropped once built)."""
    tell = ledger.tell("dense matrices")
    Hd = H.dense()
    tell(0)
    Gd = G.dense()
    tell(0)
    F = ledger.add("fisher", FisherOperator(problem, strategy=strategy))
    Fd = F.dense()
    ledger.retire("fisher")
    EF = ledger.add("empirical_fisher", EmpiricalFisherOperator(problem, strategy))
    EFd = EF.dense()
    ledger.retire("empirical_fisher")
    tell(0)
    return Hd, Gd, Fd, EFd
