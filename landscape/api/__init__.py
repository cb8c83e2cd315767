"""The library: `import landscape as ls` gives these names (landscape/__init__.py loads them
lazily, and so does this package: `landscape.api.defaults`, which the command line's option
table reads, loads without torch). This layer imports nothing of the command line
(landscape/cli) nor of the terminal views; the command line is its client."""

from __future__ import annotations

import importlib

# each public name and the module that defines it
NAMES = {
    **dict.fromkeys(
        (
            "empirical_fisher",
            "extreme_eigenpairs",
            "fisher",
            "ggn",
            "hessian",
            "hutchpp_trace",
            "make_problem",
            "spectral_density",
        ),
        "landscape.api.blocks",
    ),
    **dict.fromkeys(
        ("ggn_gap", "interpolate", "params", "sharpness", "spectrum", "surface", "taylor_check"),
        "landscape.api.calls",
    ),
    "SolverSettings": "landscape.api.settings",
    "track": "landscape.api.tracking",
    **dict.fromkeys(
        ("InputError", "LandscapeError", "NotConverged", "NumericalError"), "landscape.errors"
    ),
    "Problem": "landscape.problem",
}
__all__ = sorted(NAMES)


def __getattr__(name: str):
    """PEP 562: a library name imports its module (torch with it) when first asked for."""
    if name in NAMES:
        return getattr(importlib.import_module(NAMES[name]), name)
    raise AttributeError(f"module 'landscape.api' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
