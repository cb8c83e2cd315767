"""From options to a Problem: config, checkpoint, data, loss, dtype and device, in that order."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from landscape.cli.config import (
    SPEC_OPTIONS,
    check_found_config,
    find_config,
    load_config,
    rebased,
    resolve_with_sources,
)
from landscape.cli.options import Option, all_names, check_int64, defaults, options_of
from landscape.distributed import World, check_shardable, world_from_env
from landscape.errors import InputError
from landscape.labels import LabelConvention
from landscape.load import load_checkpoint, open_data
from landscape.losses import get_loss, is_loss_name
from landscape.nesting import parsed as parsed_json
from landscape.problem import Problem, build_problem
from landscape.render.files import check_outputs, output_path

DTYPES = {
    "float64": torch.float64,
    "float32": torch.float32,
    "double": torch.float64,
    "float": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}
# Checkpoint metadata that stands in for options the user did not give, when of this type;
# an entry of another type (a tutorial checkpoint's `"loss": 0.07`) is just metadata.
METADATA_OPTIONS = {"loss": str, "data": str, "params": str, "lr": (int, float)}


@dataclass(frozen=True)
class Session:
    problem: Problem
    options: dict
    sources: dict[str, str]  # where each option's value came from: cli, config, metadata, default
    model_path: Path
    metadata: dict
    used_sample: bool
    world: World | None = None  # the processes of a torchrun run, None for one process
    num_examples: int = 0  # of the whole data set (all ranks)

    def distributed(self) -> dict | None:
        """The JSON's `distributed` block: world size, backend, examples per rank."""
        if self.world is None:
            return None
        shards = [
            World(r, self.world.size, "").shard(self.num_examples) for r in range(self.world.size)
        ]
        return {
            "world_size": self.world.size,
            "backend": self.world.backend,
            "examples_per_rank": [s.stop - s.start for s in shards],
        }


def resolve(command: str, cli: dict) -> tuple[dict, dict, dict[str, str]]:
    """Option values: command line, then config file, then defaults (metadata comes later),
    each checked by type, choice and range. Returns the options, the config they were read
    from and each value's source. A config found in the current folder may not name code or
    grant trust (only one named with --config may); a config's relative paths resolve against
    its folder, the command line's against the current one; `~` expands everywhere."""
    file = find_config(cli.get("config"))
    config = load_config(file) if file is not None else {}
    given = {k: v for k, v in cli.items() if k != "config"}
    where = f"'{file}'" if file is not None else "the config file"
    table = options_of(command)
    options, sources = resolve_with_sources(
        given,
        config,
        {k: v for k, v in defaults(command).items() if k != "config"},
        known=all_names(),
        types={name: o.config_type for name, o in table.items()},
        where=where,
    )
    if file is not None:
        used = {k: options[k] for k, s in sources.items() if s == "config"}
        if cli.get("config") is None:
            check_found_config(used, file)
        paths = {k for k, o in table.items() if o.type is Path} | SPEC_OPTIONS
        options.update({k: rebased(k, v, file.parent) for k, v in used.items() if k in paths})
    for key, o in table.items():  # `~` expands in every path, whatever its source
        if o.type is Path and isinstance(options.get(key), str | os.PathLike):
            options[key] = output_path(options[key], o.flag)  # (a [gate] table stays a table)
    options["factory_kwargs"] = _factory_kwargs(options["factory_kwargs"])
    for key, value in options.items():
        source = "cli" if sources[key] == "cli" else where
        _check_choice(table[key], value, source)
        _check_range(table[key], value, source)
    return options, config, sources


def open_session(command: str, cli: dict, log=None, sample: bool = True, model_of=None) -> Session:
    """The problem a command analyses; every output path is checked before anything loads.
    `sample=False`: a checkpoint must be named (the gate never checks the bundled demo).
    `model_of(options)`: the checkpoint that builds the model, for a command without `model`."""
    options, sources, checkpoint, trusted, from_metadata = open_model(
        command, cli, log, sample, model_of
    )
    device = _device(options["device"])
    world = world_from_env(device)
    if options["data"] is None:
        raise InputError(
            f"no data for {Path(options['model']).name}",
            "pass --data FILE (.pt/.npz) or --data module:fn, or set `data` in the config",
        )
    # Only a spec from the checkpoint's metadata resolves beside the checkpoint; what the user
    # typed (or their config, rebased already) resolves where the user is.
    beside = "data" in from_metadata
    x, y = open_data(
        str(options["data"]),
        samples=options["samples"],
        seed=options["seed"],
        base_dir=Path(options["model"]).resolve().parent if beside else None,
        allow_code=trusted or not beside,
        target=options["target"],
    )
    if getattr(x, "note", None) and log:
        _say_later(x.note)
    n = x.num_examples if y is None else len(y)  # y None: x is a Stream, read per pass
    if world is not None:
        check_shardable(world, n)
    try:
        problem = build_problem(
            checkpoint.model,
            x,
            y,
            _loss(options),
            batch_size=options["batch_size"],
            dtype=_dtype(options["dtype"]),
            device=device,
            params=options["params"],
            metadata=checkpoint.metadata,
            output_key=options["output"],
            world=world,
            shift_labels=str(options["shift_labels"]),
        )
    except LabelConvention as exc:
        raise InputError(exc.problem, SHIFT_FIX[exc.forced]) from None
    for note in problem.notes if log else ():
        log(note)
    used_sample = sources["model"] == "default"
    model_path = Path(options["model"])
    return Session(
        problem, options, sources, model_path, checkpoint.metadata, used_sample, world, n
    )


def open_model(command: str, cli: dict, log=None, sample: bool = True, model_of=None):
    """Options, their sources, the loaded checkpoint, whether it is trusted, and the options
    its metadata supplied: everything but the data."""
    if log:  # a run starts: no line is left from an earlier one in this process
        from landscape.cli.output import NOTES

        NOTES.clear()
    options, config, sources = resolve(command, cli)
    if model_of is not None:
        options["model"], sources["model"] = model_of(options), "cli"
    check_outputs(options, command, find_config(cli.get("config")))
    if options["model"] is None and not sample:
        name = command.replace("_", "-")
        raise InputError(
            f"`landscape {name}` needs a checkpoint, and none was given (nor `model` in a config)",
            f"pass it: landscape {name} model.pt ...; the bundled sample is a demo for the "
            "analysis commands",
        )
    if options["model"] is None:
        from sample_models import SAMPLE_CHECKPOINT

        options["model"] = SAMPLE_CHECKPOINT
        if log:  # said with the answer, so that a bad option's one line stands alone
            _say_later(
                f"No model given: analysing the bundled sample {SAMPLE_CHECKPOINT.name} "
                "(a 3.3k-parameter tanh MLP classifier)."
            )
    # The bundled sample is part of this package: its metadata is as trusted as our code.
    bundled = is_bundled(options["model"])
    trusted = bool(options["trust_checkpoint"]) or bundled
    checkpoint = load_checkpoint(
        options["model"],
        factory=options["model_factory"],
        factory_kwargs=options["factory_kwargs"],
        trust=trusted,
        partial=bool(options["partial"]),
    )
    if checkpoint.from_factory and log:
        kept, name = checkpoint.from_factory, Path(options["model"]).name
        loaded = len(checkpoint.model.state_dict()) - len(kept)
        shown = ", ".join(kept[:4]) + (", ..." if len(kept) > 4 else "")
        log(f"--partial: {loaded} tensors from {name}, {len(kept)} from the factory ({shown})")
    from_metadata = _metadata_options(checkpoint.metadata, cli, config)
    if log and not trusted:  # a file the user did not vouch for steers the analysis: say so
        said = metadata_line(from_metadata, checkpoint)
        if said:
            _say_later(said)
    if "params" in from_metadata and not trusted:  # a regex from a file can take forever
        from_metadata["params"] = _literal_params(from_metadata["params"], checkpoint)
    options.update(from_metadata)
    sources.update(dict.fromkeys(from_metadata, "metadata"))
    found = sources.get("params") == "config" and cli.get("config") is None
    if found or (trusted and "params" in from_metadata):  # not typed: a bounded first match
        where = "the config found here" if found else f"the metadata of {checkpoint.path.name}"
        _check_regex_ends(str(options["params"]), checkpoint.model, where)
    return options, sources, checkpoint, trusted, from_metadata


def _loss(options: dict):
    if options["class_dim"] not in (None, 1, -1):
        raise InputError(
            f"--class-dim must be 1 or -1, got {options['class_dim']}",
            "use --class-dim 1 for (N, C, ...) outputs, -1 for (N, ..., C)",
        )
    return get_loss(str(options["loss"]), options["ignore_index"], options["class_dim"])


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


def _literal_params(text: str, checkpoint) -> str:
    """The metadata's `params` as plain text (a regex from an untrusted file could backtrack
    for ever): a pattern that selects the parameters whose names contain it."""
    if not any(text in name for name, _ in checkpoint.model.named_parameters()):
        raise InputError(
            f"the metadata of {checkpoint.path.name} selects the parameters '{text}', taken as "
            "plain text (a regex from a file is used only with --trust-checkpoint), and no "
            "parameter name contains it",
            "pass --params REGEX yourself, or --trust-checkpoint if you trust the file",
        )
    return re.escape(text)


REGEX_SECONDS = 5.0  # a parameter regex not typed by the user must match every name in this
_MATCH = "import json,re,sys\np,ns=json.load(sys.stdin)\nfor n in ns: re.search(p,n)"


def _check_regex_ends(pattern: str, model, where: str) -> None:
    """A regex from a file could backtrack for ever (`re` has no timeout): it is tried first on
    every parameter name in a process of its own, which is stopped after REGEX_SECONDS."""
    names = [name for name, _ in model.named_parameters()]
    try:
        subprocess.run(
            [sys.executable, "-I", "-S", "-c", _MATCH],
            input=json.dumps([pattern, names]),
            capture_output=True,
            text=True,
            timeout=REGEX_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise InputError(
            f"the params regex {pattern!r} from {where} did not finish matching the "
            f"{len(names)} parameter names within {REGEX_SECONDS:g} s (it backtracks)",
            "pass --params REGEX yourself (a simpler one)",
        ) from None


def _say_later(line: str) -> None:
    """Said on stderr with the answer (a run that fails says its one error line alone)."""
    from landscape.cli.output import note

    note(line)


def metadata_line(taken: dict, checkpoint) -> str:
    """One stderr line naming what an untrusted checkpoint's metadata chose for this run (''
    if nothing): the options it supplied and the factory arguments it gave."""
    parts = [f"{k} {v!r}" for k, v in taken.items()]
    if "params" in taken:
        parts[list(taken).index("params")] += " (as plain text: a regex needs --trust-checkpoint)"
    if checkpoint.kwargs_from_metadata:
        parts.append(f"factory kwargs {json.dumps(checkpoint.kwargs_from_metadata, default=repr)}")
    if not parts:
        return ""
    return f"from the metadata of {checkpoint.path.name}: {', '.join(parts)}"


def is_bundled(model) -> bool:
    """The bundled sample, recognised by its content (a copy elsewhere, or the repository's
    own copy beside an installed package, is the same file): the same bytes as ours."""
    from sample_models import SAMPLE_CHECKPOINT

    try:
        path, ours = Path(model).resolve(), SAMPLE_CHECKPOINT.resolve()
        if path == ours:
            return True
        if not path.is_file() or path.stat().st_size != ours.stat().st_size:
            return False
        return _sha256(path) == _sha256(ours)
    except OSError:
        return False


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _factory_kwargs(value) -> dict | None:
    """--factory-kwargs is a JSON object on the command line, a table in the config."""
    if value is None or isinstance(value, dict):
        return value
    try:
        parsed = parsed_json(json.loads, value, "--factory-kwargs")
    except ValueError as exc:
        raise InputError(
            f"--factory-kwargs '{value}' is not JSON ({exc})", """write e.g. '{"hidden": 64}'"""
        ) from None
    if not isinstance(parsed, dict):
        raise InputError(
            f"--factory-kwargs '{value}' is not a JSON object", """write e.g. '{"hidden": 64}'"""
        )
    return parsed


SHIFT_FIX = {
    False: "say which with --shift-labels yes (labels = input_ids, shifted as the model's own "
    "loss does) or --shift-labels no (labels shifted already, scored as they are)",
    True: "leave out --shift-labels (or give --shift-labels no)",
}
WHOLE_SET = " (leave it out to use the whole data set)"


def _where(o: Option, source: str) -> str:
    return o.flag if source == "cli" else f"config option '{o.name}' in {source}"


def _check_choice(o: Option, value, source: str) -> None:
    if not o.choices or value is None or str(value) in o.choices:
        return
    if (o.name == "loss" and is_loss_name(str(value))) or (o.name == "dtype" and value in DTYPES):
        return  # an alias (ce, l2; double, float) the loss or dtype table knows
    raise InputError(
        f"unknown {o.noun or o.name} '{value}' for {_where(o, source)}",
        f"use one of: {', '.join(o.choices)}",
    )


def _check_range(o: Option, value, source: str) -> None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return
    name = _where(o, source)
    check_int64(value, name)
    if o.least is not None and value < o.least:
        raise InputError(
            f"{name} must be an integer ≥ {o.least}, got {value}",
            f"give {o.least} or more" + (WHOLE_SET if o.name in ("batch_size", "samples") else ""),
        )
    if o.positive and not (math.isfinite(value) and value > 0):
        raise InputError(f"{name} must be positive and finite, got {value}", "give a value > 0")
    if o.interval is not None and not o.interval[0] <= value < o.interval[1]:
        low, high = o.interval
        raise InputError(f"{name} must be in [{low:g}, {high:g}), got {value}", o.example)


def _dtype(name) -> torch.dtype:
    if str(name) not in DTYPES:
        raise InputError(f"unknown --dtype '{name}'", "use float64, float32 or bfloat16")
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
