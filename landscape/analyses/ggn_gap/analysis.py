"""`landscape ggn-gap`: how far the GGN, the Fisher and the empirical Fisher are from H.

H = G + T (MATH.md, "Decomposition through the logits"): G = E[Jᵀ H_L J] is the GGN (PSD),
T = E[Σ_k (g_z)_k ∇²z_k] the model's own nonlinearity weighted by the output residuals g_z.
Everything here is computed from products:
- extreme eigenvalues of H, G and T = H − G by Lanczos (certified residual bounds);
- ‖H − G‖_F/‖H‖_F from Rademacher probes (E‖Av‖² = ‖A‖_F²), the same probes for numerator
  and denominator, with a delta-method standard error on the ratio of means;
- dᵀHd, dᵀGd, dᵀTd along named directions;
- the Fisher check: exact Fisher F (an expectation over the model's predictive distribution,
  computed separately from H_L) against G, the Monte-Carlo Fisher's error against G for
  growing S (expected ~1/√S), and the empirical Fisher's gap to G.
With `exact` the matrices are built densely (p ≤ EXACT_MAX_PARAMS) and every figure but the
Monte-Carlo errors is exact to rounding.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from landscape.analyses.ggn_gap.context import fit_context
from landscape.analyses.ggn_gap.directions import directions
from landscape.analyses.ggn_gap.exact import exact_part
from landscape.analyses.ggn_gap.fisher import monte_carlo
from landscape.analyses.ggn_gap.layers import per_layer
from landscape.analyses.ggn_gap.probes import probe_part
from landscape.analyses.ggn_gap.products import Ledger
from landscape.analyses.ggn_gap.report import GgnGapReport
from landscape.analyses.ggn_gap.settings import GgnGapSettings
from landscape.curvature import GGNOperator, HessianOperator
from landscape.problem import Problem


def analyse_ggn_gap(
    problem: Problem,
    settings: GgnGapSettings,
    strategy: str = "auto",
    progress: Callable[[str, int], None] | None = None,
) -> GgnGapReport:
    settings.check(problem.num_params)
    start = time.perf_counter()
    ledger = Ledger(progress)
    H = ledger.add("hessian", HessianOperator(problem, strategy))
    G = ledger.add("ggn", GGNOperator(problem, strategy))
    route = exact_part if settings.exact else probe_part
    part = route(problem, settings, ledger, H, G, strategy)
    named, vectors = directions(problem, part, settings)
    mc = monte_carlo(problem, settings, ledger, part.mc_probes, part.mc_ggn, strategy)
    layers = per_layer(problem, settings, ledger, H, G, part) if settings.per_layer else None
    return GgnGapReport(
        loss_name=problem.loss.name,
        num_params=problem.num_params,
        num_tensors=len(problem.params),
        num_targets=problem.num_targets,
        num_samples=problem.num_samples,
        exact=settings.exact,
        hessian=part.hessian,
        ggn=part.ggn,
        t=part.t,
        frobenius_gap=part.gap,
        directions=named,
        fisher_vs_ggn=part.fisher.max_relative_difference,
        fisher_check=part.fisher,
        mc_fisher=mc,
        empirical_fisher_gap=part.ef.relative_frobenius.value,
        empirical_fisher=part.ef,
        context=fit_context(problem),
        per_layer=layers,
        products=ledger.total(),
        seconds=time.perf_counter() - start,
        strategy=H.strategy,
        dtype=str(problem.dtype).replace("torch.", ""),
        device=str(problem.device),
        vectors=vectors,
    )
