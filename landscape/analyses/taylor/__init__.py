"""`landscape taylor-check`: Taylor-prediction residuals against the step size.

The public names; analysis.py orchestrates, the other modules hold its parts."""

from landscape.analyses.taylor.analysis import analyse_taylor
from landscape.analyses.taylor.directions import load_direction
from landscape.analyses.taylor.report import (
    Decomposition,
    DirectionReport,
    OrderCheck,
    TaylorReport,
    TaylorStep,
)
from landscape.analyses.taylor.roundoff import NoiseEstimate, ecnoise
from landscape.analyses.taylor.settings import (
    DIRECTIONS,
    FLOOR_FACTOR,
    TaylorSettings,
    halving_steps,
    parse_sweep,
)

__all__ = [
    "DIRECTIONS",
    "FLOOR_FACTOR",
    "Decomposition",
    "DirectionReport",
    "NoiseEstimate",
    "OrderCheck",
    "TaylorReport",
    "TaylorSettings",
    "TaylorStep",
    "analyse_taylor",
    "ecnoise",
    "halving_steps",
    "load_direction",
    "parse_sweep",
]
