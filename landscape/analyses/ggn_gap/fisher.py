"""The Fisher against G: the exact Fisher, the Monte-Carlo Fisher for growing S and the
empirical Fisher (not a curvature)."""

from __future__ import annotations

import math

import numpy as np
from torch import Tensor

from landscape.analyses.ggn_gap.products import Ledger, apply_blocked
from landscape.analyses.ggn_gap.report import (
    EmpiricalFisherGap,
    FisherCheck,
    MonteCarloFisher,
    MonteCarloPoint,
)
from landscape.analyses.ggn_gap.settings import GgnGapSettings
from landscape.curvature import FisherOperator
from landscape.estimators.frobenius import relative_frobenius
from landscape.estimators.results import EigenResult
from landscape.problem import Problem


def fisher_check(FV: Tensor, GV: Tensor, method: str, products: int) -> FisherCheck:
    """max_j ‖(F − G)v_j‖ / max_j ‖G v_j‖ over the columns of FV and GV."""
    scale = float(GV.norm(dim=0).max())
    diff = float((FV - GV).norm(dim=0).max())
    value = diff / scale if scale > 0 else (0.0 if diff == 0 else math.inf)
    return FisherCheck(value, method, products)


def ef_gap(
    EFV: Tensor, GV: Tensor, ef_eig: EigenResult, ggn_eig: EigenResult, products: int, exact: bool
) -> EmpiricalFisherGap:
    lam_g = ggn_eig.top[0].value if ggn_eig.top else 0.0
    return EmpiricalFisherGap(
        relative_frobenius=relative_frobenius(EFV - GV, GV, exact),
        top=ef_eig.top,
        top_ratio=ef_eig.top[0].value / lam_g if lam_g > 0 else None,
        products=products,
    )


def monte_carlo(
    problem: Problem, settings: GgnGapSettings, ledger: Ledger, V: Tensor, GV: Tensor, strategy
) -> MonteCarloFisher:
    """‖F_S − G‖_F/‖G‖_F on the probes V (GV = G V) for each S in the settings."""
    points = []
    for S in sorted(set(settings.mc_samples)):
        key = "mc_fisher"
        op = ledger.add(
            key, FisherOperator(problem, mc_samples=S, seed=settings.seed, strategy=strategy)
        )
        FV = apply_blocked(op, V)
        ledger.retire(key)
        est = relative_frobenius(FV - GV, GV, exact=False)
        points.append(MonteCarloPoint(S, est.value, est.stderr))
        ledger.tell("Monte-Carlo Fisher")(0)
    return MonteCarloFisher(points, fit_slope(points), products=ledger.total()["mc_fisher"])


def fit_slope(points: list[MonteCarloPoint]) -> float | None:
    """Least-squares slope of log(error) against log(S); None with < 2 usable points."""
    usable = [
        (p.samples, p.relative_error)
        for p in points
        if p.relative_error > 0 and math.isfinite(p.relative_error)
    ]
    if len({s for s, _ in usable}) < 2:
        return None
    x = np.log([s for s, _ in usable])
    y = np.log([e for _, e in usable])
    return float(np.polyfit(x, y, 1)[0])
