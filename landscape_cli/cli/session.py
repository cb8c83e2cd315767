"""From options to a Problem: config, checkpoint, data, loss, dtype and device, in that order."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from landscape_cli.cli.config import find_config, load_config, resolve_options
from landscape_cli.cli.options import DEFAULTS, LEAST, POSITIVE, option_types
from landscape_cli.errors import InputError
from landscape_cli.load import load_checkpoint, load_data
from landscape_cli.losses import get_loss, is_loss_name
from landscape_cli.problem import Problem, build_problem
from landscape_cli.render.files import check_outputs

DTYPES = {
    "float64": torch.float64,
    "float32": torch.float32,
    "double": torch.float64,
    "float": torch.float32,
}
# Checkpoint metadata that stands in for options the user did not give, when of this type;
# an entry of another type (a tutorial checkpoint's `"loss": 0.07`) is just metadata.
METADATA_OPTIONS = {"loss": str, "data": str, "params": str, "lr": (int, float)}


@dataclass
class Session:
    problem: Problem
    options: dict
    model_path: Path
    metadata: dict
    used_sample: bool


def command_function(name: str) -> Callable:
    """The function of a registered command (its signature declares the options' types)."""
    from landscape_cli.cli.app import app

    for info in app.registered_commands:
        if info.callback is not None and info.callback.__name__ == name:
            return info.callback
    raise KeyError(name)


def resolve(command: str, cli: dict) -> tuple[dict, dict]:
    """Option values: command line, then config file, then defaults (metadata comes later),
    each checked by type and range. Returns the options and the config they were read from."""
    file = find_config(cli.get("config"))
    config = load_config(file) if file is not None else {}
    given = {k: v for k, v in cli.items() if k != "config"}
    where = f"'{file}'" if file is not None else "the config file"
    options = resolve_options(
        given, config, DEFAULTS, types=option_types(command_function(command)), where=where
    )
    options["factory_kwargs"] = _factory_kwargs(options["factory_kwargs"])
    for key, value in options.items():
        _check_range(key, value, "cli" if given.get(key) is not None else where)
    return options, config


def open_session(command: str, cli: dict, log=None) -> Session:
    """The problem a command analyses; every output path is checked before anything loads."""
    options, config = resolve(command, cli)
    check_outputs(options.get("out"), options.get("png"), options.get("junit"))
    used_sample = options["model"] is None
    if used_sample:
        from sample_models import SAMPLE_CHECKPOINT

        options["model"] = SAMPLE_CHECKPOINT
        if log:
            log(
                f"No model given: analysing the bundled sample {SAMPLE_CHECKPOINT.name} "
                "(a 3.3k-parameter tanh MLP classifier)."
            )
    # The bundled sample is part of this package: its metadata is as trusted as our code.
    trusted = bool(options["trust_checkpoint"]) or _is_bundled(options["model"])
    checkpoint = load_checkpoint(
        options["model"],
        factory=options["model_factory"],
        factory_kwargs=options["factory_kwargs"],
        trust=trusted,
    )
    metadata = checkpoint.metadata
    from_metadata = _metadata_options(metadata, cli, config)
    options.update(from_metadata)
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
        allow_code=trusted or "data" not in from_metadata,
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


def _metadata_options(metadata: dict, cli: dict, config: dict) -> dict:
    taken = {}
    for key, kind in METADATA_OPTIONS.items():
        value = metadata.get(key)
        if cli.get(key) is not None or key in config or value is None:
            continue
        if isinstance(value, kind) and not isinstance(value, bool):
            if key == "loss" and not is_loss_name(value):
                continue
            taken[key] = value
    return taken


def _is_bundled(model) -> bool:
    from sample_models import SAMPLE_DIR

    try:
        return Path(model).resolve().parent == SAMPLE_DIR.resolve()
    except OSError:
        return False


def _factory_kwargs(value) -> dict | None:
    """--factory-kwargs is a JSON object on the command line, a table in the config."""
    if value is None or isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise InputError(
            f"--factory-kwargs '{value}' is not JSON ({exc})", """write e.g. '{"hidden": 64}'"""
        ) from None
    if not isinstance(parsed, dict):
        raise InputError(
            f"--factory-kwargs '{value}' is not a JSON object", """write e.g. '{"hidden": 64}'"""
        )
    return parsed


WHOLE_SET = " (leave it out to use the whole data set)"


def _check_range(key: str, value, source: str) -> None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return
    name = "--" + key.replace("_", "-") if source == "cli" else f"config option '{key}' in {source}"
    if key in LEAST and value < LEAST[key]:
        raise InputError(
            f"{name} must be an integer ≥ {LEAST[key]}, got {value}",
            f"give {LEAST[key]} or more" + (WHOLE_SET if key in ("batch_size", "samples") else ""),
        )
    if key in POSITIVE and not (math.isfinite(value) and value > 0):
        raise InputError(f"{name} must be positive and finite, got {value}", "give a value > 0")


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
