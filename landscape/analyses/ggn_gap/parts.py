"""What the exact and the probe route hand to the rest of the analysis."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from landscape.analyses.ggn_gap.report import (
    EmpiricalFisherGap,
    FisherCheck,
    FrobeniusGap,
    Spectra,
)
from landscape.curvature import CurvatureOperator
from landscape.estimators.frobenius import frobenius_norm, relative_frobenius
from landscape.estimators.results import EigenResult


@dataclass(frozen=True)
class Eigen:
    """The eigen-solves of H, G and T = H − G (with their vectors, for the directions)."""

    hessian: EigenResult
    ggn: EigenResult
    t: EigenResult


@dataclass(frozen=True)
class GapPart:
    """The spectra and the gap figures of one route, and what the later stages reuse."""

    eig: Eigen
    hessian: Spectra
    ggn: Spectra
    t: Spectra
    gap: FrobeniusGap
    fisher: FisherCheck
    ef: EmpiricalFisherGap
    operators: tuple[CurvatureOperator, CurvatureOperator]  # H and G for the directions
    mc_probes: Tensor  # the probes the Monte-Carlo Fisher is measured on
    mc_ggn: Tensor  # G times those probes
    dense: tuple[Tensor, Tensor] | None = None  # dense H and G (exact route)


def frobenius_gap(HV: Tensor, GV: Tensor, exact: bool) -> FrobeniusGap:
    """‖H − G‖_F/‖H‖_F and the three norms from HV and GV (V = I when exact)."""
    TV = HV - GV
    est = relative_frobenius(TV, HV, exact)
    return FrobeniusGap(
        value=est.value,
        stderr=est.stderr,
        hessian_norm=frobenius_norm(HV, exact),
        ggn_norm=frobenius_norm(GV, exact),
        t_norm=frobenius_norm(TV, exact),
        method="exact" if exact else "probes",
        probes=0 if exact else HV.shape[1],
    )
