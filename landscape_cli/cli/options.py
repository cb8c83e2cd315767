"""Options shared by every command (typer annotations) and their defaults.

Every option can also come from TOML (`--config FILE`, else ./landscape.toml, else
[tool.landscape] in ./pyproject.toml); the command line wins, then the config, then the
checkpoint's own metadata, then these defaults.
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

# Defaults for every option of every command: one config file can serve them all.
DEFAULTS: dict = {
    "model": None,
    "data": None,
    "model_factory": None,
    "factory_kwargs": None,
    "loss": "cross-entropy",
    "samples": None,
    "batch_size": None,
    "dtype": "float64",
    "device": "auto",
    "seed": 0,
    "params": None,
    "trust_checkpoint": False,
    "strategy": "auto",
    "verbose": False,
    "allow_unconverged": False,
    # spectrum
    "curvature": "hessian",
    "k": 5,
    "k_bottom": None,
    "tol": 1e-6,
    "max_products": None,
    "mc_samples": None,
    "trace_samples": 60,
    "density": False,
    "density_starts": 8,
    "density_steps": 80,
    "per_layer": False,
    "multiplicity_check": False,
    # ggn-gap
    "exact": False,
    "probes": 30,
    "random_directions": 2,
    # taylor-check
    "eps": 1e-3,
    "steps": 12,
    "sweep": None,
    "direction": "all",
    "direction_file": None,
    # sharpness and gate
    "lr": None,
    "rho": None,
    "avg_rho": None,
    "eps_sharpness": 1e-3,
    "ascent_steps": 20,
    "avg_samples": 32,
    "slice_points": 41,
    "slice_radius": 1.0,
    "gate": None,
    "baseline": None,
    "allow_undecided": False,
    "max": None,
    "min": None,
    "junit": None,
    # output
    "json": False,
    "png": None,
    "out": None,
}

Model = Annotated[
    Path | None,
    typer.Argument(
        help="Checkpoint (.pt/.pth state dict or module, .safetensors, .pt2). "
        "Default: the config's `model`, else the bundled sample."
    ),
]
Data = Annotated[
    str | None,
    typer.Option(
        "--data",
        help="Data: .pt (x/y dict, tuple, TensorDataset), .npz (x, y), "
        "or module:fn / file.py:fn. Default: the checkpoint's metadata.",
    ),
]
ModelFactory = Annotated[
    str | None,
    typer.Option(
        "--model-factory",
        help="Builds the model for a state dict: package.module:build or path/to/file.py:build.",
    ),
]
Loss = Annotated[str | None, typer.Option("--loss", help="cross-entropy | mse | bce | nll.")]
ConfigFile = Annotated[Path | None, typer.Option("--config", help="TOML file with option values.")]
Samples = Annotated[
    int | None, typer.Option("--samples", help="Use a seeded random subset of N examples.")
]
BatchSize = Annotated[
    int | None, typer.Option("--batch-size", help="Examples per batch (default: all).")
]
Dtype = Annotated[str | None, typer.Option("--dtype", help="float64 (default) | float32.")]
Device = Annotated[str | None, typer.Option("--device", help="auto | cpu | cuda.")]
Seed = Annotated[int | None, typer.Option("--seed", help="Seed for every random choice.")]
Params = Annotated[
    str | None, typer.Option("--params", help="Regex: which parameters form θ (default all).")
]
Trust = Annotated[
    bool | None,
    typer.Option(
        "--trust-checkpoint",
        help="Trust the checkpoint: let it run code (pickled objects, .pt2 archives, factories "
        "named in its metadata). Trusted files only.",
    ),
]
Strategy = Annotated[
    str | None,
    typer.Option(
        "--strategy",
        help="Product route: auto | kept-graph | double-backward | forward-over-reverse.",
    ),
]
Json = Annotated[
    bool | None, typer.Option("--json", help="Print one JSON report on stdout, nothing else.")
]
Png = Annotated[Path | None, typer.Option("--png", help="Write the figure to this PNG file.")]
Out = Annotated[
    Path | None, typer.Option("--out", help="Write report.json and the figures to this folder.")
]
FactoryKwargs = Annotated[
    str | None,
    typer.Option(
        "--factory-kwargs",
        help="Keyword arguments for the model factory, as a JSON object: '{\"hidden\": 64}'.",
    ),
]
Verbose = Annotated[
    bool | None, typer.Option("--verbose", help="Show library logging and warnings on stderr.")
]
AllowUnconverged = Annotated[
    bool | None,
    typer.Option(
        "--allow-unconverged",
        help="Report eigenvalues the solver did not certify (flagged) instead of exit code 3.",
    ),
]

# The least value of each counting option, and the options that must be > 0 (finite), checked
# after the command line, the config and the metadata are resolved, whatever the source.
LEAST = {
    "batch_size": 1,
    "samples": 1,
    "k": 0,
    "k_bottom": 0,
    "max_products": 1,
    "trace_samples": 3,
    "density_starts": 1,
    "density_steps": 2,
    "probes": 1,
    "random_directions": 0,
    "steps": 1,
    "ascent_steps": 1,
    "avg_samples": 2,
    "slice_points": 3,
}
POSITIVE = {"tol", "eps", "rho", "avg_rho", "eps_sharpness", "slice_radius"}


@functools.cache
def option_types(command: Callable) -> dict[str, type]:
    """The type each option of a command function declares: bool, int, float, str, Path, list."""
    out: dict[str, type] = {}
    for name, hint in typing.get_type_hints(command, include_extras=True).items():
        base = typing.get_args(hint)[0] if typing.get_origin(hint) is Annotated else hint
        if typing.get_origin(base) in (typing.Union, types.UnionType):
            base = next(a for a in typing.get_args(base) if a is not type(None))
        out[name] = list if typing.get_origin(base) is list else base
    out.pop("return", None)
    return out
