"""landscape: certified loss-landscape analysis for PyTorch models.

    import landscape as ls
    rep = ls.spectrum(model, loader, nn.CrossEntropyLoss(), k=5)
    rep.top[0].value, rep.top[0].error_bound, rep.top[0].converged
    rep.to_dict()  # the document `landscape spectrum --json` prints

The library's names (landscape/api) load on first use, so that the command line's
`landscape --help` imports no numerical library."""

__version__ = "0.1.0"

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
    "track",
]


def __getattr__(name: str):
    """PEP 562: `ls.spectrum` and the other library names import landscape.api when first
    asked for (torch with it); the subpackages (landscape.cli, …) import as usual."""
    if name in __all__:
        import landscape.api

        return getattr(landscape.api, name)
    raise AttributeError(f"module 'landscape' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
