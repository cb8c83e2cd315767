"""The library: `import landscape as ls` gives these names (landscape/__init__.py loads them
lazily). This layer imports nothing of the command line (landscape/cli) nor of the terminal
views; the command line is to become its client."""

from landscape.api.blocks import (
    empirical_fisher,
    extreme_eigenpairs,
    fisher,
    ggn,
    hessian,
    hutchpp_trace,
    make_problem,
    spectral_density,
)
from landscape.api.calls import (
    ggn_gap,
    interpolate,
    params,
    sharpness,
    spectrum,
    surface,
    taylor_check,
)
from landscape.api.settings import SolverSettings
from landscape.errors import InputError, LandscapeError, NotConverged, NumericalError
from landscape.problem import Problem

__all__ = [
    "InputError",
    "LandscapeError",
    "NotConverged",
    "NumericalError",
    "Problem",
    "SolverSettings",
    "empirical_fisher",
    "extreme_eigenpairs",
    "fisher",
    "ggn",
    "ggn_gap",
    "hessian",
    "hutchpp_trace",
    "interpolate",
    "params",
    "make_problem",
    "sharpness",
    "spectral_density",
    "spectrum",
    "surface",
    "taylor_check",
]
