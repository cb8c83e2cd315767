"""`landscape sharpness`: curvature, Adam-state and perturbation sharpness, by the gate's names.

report.py holds the results, curvature.py λ_max and stability against 2/η, adam.py the
Adam-state figures, perturbation.py the ε-, adaptive and average-case sharpness, metrics.py
the gate's names, and analysis.py runs the parts asked for.
"""

from landscape.analyses.metric_names import METRICS
from landscape.analyses.sharpness.adam import (
    AdamState,
    AdamStateError,
    adam_state,
    analyse_adam,
    optimizer_state_of,
    resolve_adam,
    single_lr,
    threshold,
)
from landscape.analyses.sharpness.analysis import (
    analyse_sharpness,
    unavailable_metrics,
)
from landscape.analyses.sharpness.curvature import stability_of
from landscape.analyses.sharpness.metrics import (
    ADAM_METRICS,
    ALL_PARTS,
    PARTS_OF,
    collect_metrics,
    parts_for,
)
from landscape.analyses.sharpness.perturbation import (
    adaptive_sharpness,
    average_sharpness,
    box_ascent,
    eps_sharpness,
)
from landscape.analyses.sharpness.report import (
    AdamReport,
    AdaptiveSharpness,
    AscentResult,
    AverageSharpness,
    DiagonalFit,
    EpsSharpness,
    Metric,
    SharpnessReport,
    SharpnessSettings,
    Stability,
)
from landscape.analyses.surface.directions import filter_normalised_direction
from landscape.analyses.surface.slices import LossSlice
from landscape.estimators.results import Eigenpair

__all__ = [
    "ADAM_METRICS",
    "ALL_PARTS",
    "METRICS",
    "PARTS_OF",
    "AdamReport",
    "AdamState",
    "AdamStateError",
    "AdaptiveSharpness",
    "AscentResult",
    "AverageSharpness",
    "DiagonalFit",
    "Eigenpair",
    "EpsSharpness",
    "LossSlice",
    "Metric",
    "SharpnessReport",
    "SharpnessSettings",
    "Stability",
    "adam_state",
    "adaptive_sharpness",
    "analyse_adam",
    "analyse_sharpness",
    "average_sharpness",
    "box_ascent",
    "collect_metrics",
    "eps_sharpness",
    "filter_normalised_direction",
    "optimizer_state_of",
    "parts_for",
    "resolve_adam",
    "single_lr",
    "stability_of",
    "threshold",
    "unavailable_metrics",
]
