"""From options to a Problem: config, checkpoint, data, loss, dtype and device, in that order."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from .config import load_config, resolve_options
from .errors import InputError
from .load import load_checkpoint, load_data
from .losses import get_loss
from .options import DEFAULTS
from .problem import Problem, build_problem

DTYPES = {
    "float64": torch.float64,
    "float32": torch.float32,
    "double": torch.float64,
    "float": torch.float32,
}
# Checkpoint metadata keys that stand in for options the user did not give.
METADATA_OPTIONS = ("loss", "data", "params", "lr")


@dataclass
class Session:
    problem: Problem
    options: dict
    model_path: Path
    metadata: dict
    used_sample: bool


def resolve(cli: dict) -> tuple[dict, dict]:
    """Option values: command line, then config file, then defaults (metadata comes later).
    Returns the options and the config they were read from."""
    config = load_config(cli.get("config"))
    given = {k: v for k, v in cli.items() if k != "config"}
    return resolve_options(given, config, DEFAULTS), config


def open_session(cli: dict, log=None) -> Session:
    options, config = resolve(cli)
    used_sample = options["model"] is None
    if used_sample:
        from sample_models import SAMPLE_CHECKPOINT

        options["model"] = SAMPLE_CHECKPOINT
        if log:
            log(
                f"No model given: analysing the bundled sample {SAMPLE_CHECKPOINT.name} "
                "(a 3.3k-parameter tanh MLP classifier)."
            )
    checkpoint = load_checkpoint(
        options["model"],
        factory=options["model_factory"],
        factory_kwargs=options["factory_kwargs"],
        trust=bool(options["trust_checkpoint"]),
    )
    metadata = checkpoint.metadata
    for key in METADATA_OPTIONS:
        if cli.get(key) is None and key not in config and key in metadata:
            options[key] = metadata[key]
    if options["data"] is None:
        raise InputError(
            f"no data for {Path(options['model']).name}",
            "pass --data FILE (.pt/.npz) or --data module:fn, or set `data` in the config",
        )
    x, y = load_data(
        str(options["data"]),
        samples=options["samples"],
        seed=options["seed"],
        base_dir=Path(options["model"]).resolve().parent,
    )
    problem = build_problem(
        checkpoint.model,
        x,
        y,
        get_loss(str(options["loss"])),
        batch_size=options["batch_size"],
        dtype=_dtype(options["dtype"]),
        device=_device(options["device"]),
        params=options["params"],
        metadata=metadata,
    )
    return Session(problem, options, Path(options["model"]), metadata, used_sample)


def _dtype(name) -> torch.dtype:
    if str(name) not in DTYPES:
        raise InputError(f"unknown --dtype '{name}'", "use float64 or float32")
    return DTYPES[str(name)]


def _device(name) -> torch.device:
    name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(
            "--device cuda was asked for but CUDA is not available here",
            "use --device cpu (or auto)",
        )
    if not (name == "cpu" or name.startswith("cuda")):
        raise InputError(f"unknown --device '{name}'", "use auto, cpu or cuda")
    return torch.device(name)
