"""`landscape ggn-gap`: the analysis, its settings and its report."""

from landscape.analyses.ggn_gap.analysis import analyse_ggn_gap
from landscape.analyses.ggn_gap.context import fit_context
from landscape.analyses.ggn_gap.fisher import fit_slope
from landscape.analyses.ggn_gap.products import apply_blocked
from landscape.analyses.ggn_gap.report import (
    Direction,
    EmpiricalFisherGap,
    FisherCheck,
    FitContext,
    FrobeniusGap,
    GgnGapReport,
    LayerGap,
    MonteCarloFisher,
    MonteCarloPoint,
    Spectra,
)
from landscape.analyses.ggn_gap.settings import EXACT_MAX_PARAMS, GgnGapSettings
from landscape.analyses.ggn_gap.spectra import (
    difference_eigenpairs,
    ggn_eigenpairs,
    psd_bottom,
)

__all__ = [
    "EXACT_MAX_PARAMS",
    "Direction",
    "EmpiricalFisherGap",
    "FisherCheck",
    "FitContext",
    "FrobeniusGap",
    "GgnGapReport",
    "GgnGapSettings",
    "LayerGap",
    "MonteCarloFisher",
    "MonteCarloPoint",
    "Spectra",
    "analyse_ggn_gap",
    "apply_blocked",
    "difference_eigenpairs",
    "fit_context",
    "fit_slope",
    "ggn_eigenpairs",
    "psd_bottom",
]
