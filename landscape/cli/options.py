"""The option table: every option of every command, declared once.

Each record gives an option's name, type (an Enum for every fixed vocabulary, so typer checks
and lists the choices), default, help, the commands it belongs to and its range. The default of
every option that is also a keyword of the library (`ls.spectrum(..., k=5)`) is `LIB`: it is
taken from the library's one declaration, landscape/api/defaults.py; only the command line's
own options (files, output) state theirs here. The typer
parameters of each command, the defaults, the `--help` texts, the config file's per-command
type checks and the range checks all come from this table.

Every option can also come from TOML (`--config FILE`, else ./landscape.toml, else
[tool.landscape] in ./pyproject.toml); the command line wins, then the config, then the
checkpoint's own metadata, then these defaults.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from landscape.api import defaults as D
from landscape.errors import InputError, LandscapeError

ALL = (  # the analyses of a problem
    "spectrum",
    "ggn_gap",
    "taylor_check",
    "sharpness",
    "gate",
    "surface",
    "interpolate",
    "track",
)
COMMANDS = (*ALL, "params")
LOADS = COMMANDS  # options that load a model (or say what to do with a report)
ONE_MODEL = tuple(c for c in LOADS if c != "track")  # track's checkpoints are its argument
SOLVED = ("spectrum", "ggn_gap", "sharpness", "gate", "surface")  # run the eigen-solver
CERTIFIED = ("spectrum", "ggn_gap", "sharpness", "surface")  # commands that report eigenpairs
TAYLOR = ("taylor_check", "gate")  # the gate's taylor_order metric runs the taylor-check


class Curvature(StrEnum):
    hessian = "hessian"
    ggn = "ggn"
    fisher = "fisher"
    ef = "ef"


class LossName(StrEnum):
    cross_entropy = "cross-entropy"
    mse = "mse"
    bce = "bce"
    nll = "nll"


class Dtype(StrEnum):
    float64 = "float64"
    float32 = "float32"
    bfloat16 = "bfloat16"


class ShiftLabels(StrEnum):
    auto = "auto"
    yes = "yes"
    no = "no"


class Normalize(StrEnum):
    filter = "filter"
    layer = "layer"
    none = "none"


class Strategy(StrEnum):
    auto = "auto"
    kept_graph = "kept-graph"
    double_backward = "double-backward"
    forward_over_reverse = "forward-over-reverse"


class FromLibrary:
    """The default of an option that is a library keyword: the library's (api/defaults.py)."""

    def __repr__(self) -> str:
        return "LIB"


LIB: Any = FromLibrary()
# the library calls whose keywords a command's options are (the gate runs two analyses)
LIBRARY_CALLS = {"gate": ("sharpness", "taylor_check")}


def library_default(name: str, commands: tuple[str, ...]) -> Any:
    """The library's default of keyword `name` in the calls of `commands` (one value)."""
    if name == "loss":
        return D.LOSS
    calls = [c for command in commands for c in LIBRARY_CALLS.get(command, (command,))]
    found = [D.COMMANDS[c][name] for c in calls if name in D.COMMANDS.get(c, {})]
    if not found or any(v != found[0] for v in found):
        raise TypeError(f"option {name}: the library declares {found or 'no'} default(s)")
    return found[0]


@dataclass(frozen=True)
class Option:
    """One option: `name` is its Python name (`--k-bottom` is `k_bottom`)."""

    name: str
    type: Any  # bool, int, float, str, Path, list (repeatable str) or an Enum class
    default: Any
    help: str
    commands: tuple[str, ...] = ALL
    least: int | None = None  # counts: the smallest value allowed
    positive: bool = False  # numbers that must be > 0 and finite
    interval: tuple[float, float] | None = None  # numbers in [low, high)
    example: str = ""  # the fix an out-of-range value's error suggests
    metavar: str | None = None
    argument: bool = False
    noun: str | None = None  # "unknown <noun> 'x'" when a choice is wrong

    def __post_init__(self) -> None:
        if self.default is LIB:
            object.__setattr__(self, "default", library_default(self.name, self.commands))

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def choices(self) -> tuple[str, ...]:
        if isinstance(self.type, type) and issubclass(self.type, Enum):
            return tuple(member.value for member in self.type)
        return ()

    @property
    def config_type(self) -> Any:
        """The type a config value must have (choices are strings)."""
        return str if self.choices else self.type


Opt = Option
# fmt: off
TABLE: tuple[Option, ...] = (
    # -- what to analyse ------------------------------------------------------------------
    Opt("model", Path, None, "Checkpoint (.pt/.pth state dict or module, .safetensors, .pt2). "
      "Default: the config's `model`, else the bundled sample.", ONE_MODEL, argument=True),
    Opt("data", str, None, "Data: .pt (x/y dict, tuple, TensorDataset), .npz (x, y), or "
      "module:fn / file.py:fn. Default: the checkpoint's metadata."),
    Opt("model_factory", str, None, "Builds the model for a state dict: package.module:build or "
      "path/to/file.py:build.", LOADS),
    Opt("factory_kwargs", str, None, "Keyword arguments for the model factory, as a JSON object: "
      "'{\"hidden\": 64}'.", LOADS),
    Opt("loss", LossName, LIB, "The loss: the mean over examples (over counted "
      "targets for outputs with positions, e.g. a language model's tokens).", noun="loss"),
    Opt("target", str, LIB, "The data is a flat dict (file, Dataset items or DataLoader "
      "batches): this entry is the target, the others are the model's keyword inputs."),
    Opt("output", str, LIB, "The entry of the model's dict / ModelOutput the loss is taken "
      "of (default: logits; a tuple's first element)."),
    Opt("ignore_index", int, LIB, "Cross-entropy targets equal to this count for nothing "
      "(padding)."),
    Opt("class_dim", int, LIB, "The output dimension holding the classes: -1 (last, a language "
      "model's) or 1 (PyTorch's (N, C, d…)); default: from the shapes."),
    Opt("shift_labels", ShiftLabels, LIB, "Score a causal LM's logits at t against the label "
      "at t+1 (Hugging Face's labels = input_ids): auto follows the model (*ForCausalLM, "
      "*LMHeadModel) and tells the labels from the inputs' input_ids.", noun="label shift"),
    Opt("config", Path, None, "TOML file with option values.", LOADS),
    Opt("samples", int, LIB, "Use a seeded random subset of N examples.", least=1),
    Opt("batch_size", int, LIB, "Examples per batch (default: all; a streamed Dataset: 256, "
      "a DataLoader: its own).", least=1),
    Opt("dtype", Dtype, LIB, "Precision of the model, the data and the products.",
      noun="dtype"),
    Opt("device", str, LIB, "auto | cpu | cuda (or cuda:N)."),
    Opt("seed", int, LIB, "Seed for every random choice."),
    Opt("params", str, LIB, "Regex: which parameters form θ (default: those that require "
      "grad; see `landscape params`).", LOADS),
    Opt("partial", bool, False, "The checkpoint holds only some tensors (fine-tuned layers): "
      "load them over the factory's own weights, the rest from the factory.", LOADS),
    Opt("trust_checkpoint", bool, False, "Trust the checkpoint: let it run code (pickled objects, "
      ".pt2 archives, factories named in its metadata). Trusted files only.", LOADS),
    Opt("strategy", Strategy, LIB, "How curvature products are formed (see the README).",
      noun="product strategy"),
    # -- spectrum -------------------------------------------------------------------------
    Opt("curvature", Curvature, LIB, "The matrix: Hessian, Generalized Gauss-Newton, Fisher "
      "or empirical Fisher.", ("spectrum",), noun="curvature"),
    Opt("k", int, LIB, "How many top eigenvalues.", ("spectrum", "sharpness"), least=0),
    Opt("k", int, LIB, "How many top and bottom eigenvalues of H, G and T.", ("ggn_gap",), least=0),
    Opt("k_bottom", int, LIB, "How many bottom (most negative) eigenvalues (default: --k).",
      ("spectrum",), least=0),
    Opt("tol", float, LIB, "Lanczos: converged when ‖Av−λv‖ ≤ tol·max|λ| (default: the "
      "dtype's, 1e-6 in float64, 1e-4 in float32, 1e-2 in bfloat16).", SOLVED, positive=True),
    Opt("max_products", int, LIB, "Cap on each eigen-solve's products.", SOLVED, least=1),
    Opt("mc_samples", int, LIB, "Monte-Carlo Fisher with S sampled labels per example "
      "(default: exact).", ("spectrum",), least=1),
    Opt("trace_samples", int, LIB, "Products for the Hutch++ trace.", ("sharpness", "gate"),
      least=3),
    Opt("trace", bool, LIB, "The Hutch++ trace (60 products, or --trace-samples).",
      ("spectrum",)),
    Opt("trace_samples", int, LIB, "Products for the Hutch++ trace (default 60; giving it "
      "asks for --trace).", ("spectrum",), least=3),
    Opt("density", bool, LIB, "Spectral density by stochastic Lanczos quadrature, and "
      "intervals that hold the share and mass of negative eigenvalues (no point value).",
      ("spectrum",)),
    Opt("density_starts", int, LIB, "SLQ random starts.", ("spectrum",), least=1),
    Opt("density_steps", int, LIB, "SLQ Lanczos steps.", ("spectrum",), least=2),
    Opt("per_layer", bool, LIB, "Top eigenvalue (and trace, with --trace) of each "
      "parameter block.",
      ("spectrum",)),
    Opt("per_layer", bool, LIB, "The gap of each parameter block.", ("ggn_gap",)),
    Opt("basis_memory", str, LIB, "Memory for the eigen-solver's Krylov basis: bytes or a "
      "size (500MB, 2GB, 1.5GiB). Default: a quarter of the free memory, up to 300 vectors; "
      "a float64 basis that does not fit is stored in float32 (float64 coefficients).",
      (*SOLVED, "taylor_check"), metavar="SIZE"),
    Opt("multiplicity_check", bool, LIB, "Lock the converged pairs and search again from a "
      "fresh vector, so repeated eigenvalues are listed as often as they occur (about twice "
      "the products).", ("spectrum",)),
    # -- ggn-gap --------------------------------------------------------------------------
    Opt("exact", bool, LIB, "Dense H, G, F and EF (models up to 4000 parameters).",
      ("ggn_gap",)),
    Opt("probes", int, LIB, "Random probes for the Frobenius-norm estimates.", ("ggn_gap",),
      least=1),
    Opt("random_directions", int, LIB, "Random unit directions among the named ones.",
      ("ggn_gap",), least=0),
    Opt("mc_samples", str, LIB, "Labels sampled per example for the Monte-Carlo Fisher, "
      "comma-separated.", ("ggn_gap",)),
    # -- taylor-check ---------------------------------------------------------------------
    Opt("eps", float, LIB, "Largest step η (1e-3 with --steps alone); --steps halvings "
      "follow it. Default: the steps are chosen per direction, from the round-off floor up to "
      "the third-order term.", TAYLOR, positive=True),
    Opt("steps", int, LIB, "How many times η is halved after --eps (12 with --eps alone).",
      TAYLOR, least=1),
    Opt("sweep", str, LIB, "MIN:MAX:N log-spaced steps instead, e.g. 1e-6:1e-1:13.", TAYLOR),
    Opt("direction", str, LIB, "gradient | top-eigenvector | bottom-eigenvector | random | "
      "all, or a list: a,b (default: all; only the file's with --direction-file).", TAYLOR),
    Opt("direction_file", Path, LIB, "Your own direction: a flat vector of length p (.pt or "
      ".npy).", ("taylor_check",)),
    # -- sharpness and gate ---------------------------------------------------------------
    Opt("lr", float, LIB, "Learning rate η for the stability figures (default: the checkpoint's "
      "metadata, else its optimizer state).", ("sharpness", "gate"), positive=True),
    Opt("momentum", float, LIB, "SGD momentum β for the stability figures: stable for "
      "η·λ_max < 2 + 2β (default: the checkpoint's SGD state, else 0).", ("sharpness", "gate"),
      interval=(0.0, 1.0), example="use e.g. --momentum 0.9"),
    Opt("nesterov", bool, LIB, "Nesterov momentum: stable for η·λ_max < (2 + 2β)/(1 + 2β).",
      ("sharpness", "gate")),
    Opt("adam_keep_unmoved", bool, LIB, "Keep the coordinates Adam never moved (v̂ = 0: dead "
      "units) in Adam's preconditioned sharpness; by default they are left out and reported.",
      ("sharpness", "gate")),
    Opt("rho", float, LIB, "Adaptive worst-case radius: |δ_i| ≤ ρ|θ_i|.", ("sharpness", "gate"),
      positive=True),
    Opt("avg_rho", float, LIB, "Adaptive average-case σ_i = ρ|θ_i|.", ("sharpness", "gate"),
      positive=True),
    Opt("eps_sharpness", float, LIB, "Keskar ε: box |δ_i| ≤ ε(|θ_i| + 1).",
      ("sharpness", "gate"), positive=True),
    Opt("ascent_steps", int, LIB, "Projected gradient-ascent iterations for the worst cases.",
      ("sharpness", "gate"), least=1),
    Opt("avg_samples", int, LIB, "Gaussian perturbations (each at ±δ) for the average case.",
      ("sharpness", "gate"), least=2),
    Opt("slice_points", int, LIB, "Even grid of each 1D loss slice, before refinement "
      "(up to as many points again where the drawn curve bends).", ("sharpness",), least=3),
    Opt("slice_radius", float, LIB, "Slices run over t ∈ [−r, r].", ("sharpness",),
      positive=True),
    Opt("gate", Path, None, "TOML file with the thresholds (its [gate] table); default: the "
      "[gate] table of --config.", ("gate",)),
    Opt("baseline", Path, None, "A saved report (sharpness/gate --json) for max_increase "
      "thresholds.", ("gate",)),
    Opt("allow_undecided", bool, False, "Let thresholds within a metric's error bound pass.",
      ("gate",)),
    Opt("max", list, None, "The metric must stay below VALUE (repeatable).", ("gate",),
      metavar="NAME=VALUE"),
    Opt("min", list, None, "The metric must stay above VALUE (repeatable).", ("gate",),
      metavar="NAME=VALUE"),
    Opt("junit", Path, None, "Write a JUnit XML file, one test case per threshold.", ("gate",)),
    # -- surface and interpolate ----------------------------------------------------------
    Opt("model_b", Path, None, "The second checkpoint (α = 1); the first is α = 0.",
      ("interpolate",), argument=True),
    Opt("grid", int, LIB, "Grid points along each direction.", ("surface",), least=2),
    Opt("range", str, LIB, "The coordinates' interval a,b (a < b); write --range=-1,1.",
      ("surface",), metavar="A,B"),
    Opt("range", str, LIB, "The interval of α, a,b (a < b); --range=-0.5,1.5 extrapolates.",
      ("interpolate",), metavar="A,B"),
    Opt("dims", int, LIB, "2: a plane through θ, 1: a line.", ("surface",), least=1),
    Opt("directions", str, LIB, "random | hessian (the top eigenvectors, certified) | "
      "A.pt,B.pt (state dicts of θ's parameters; one file for --dims 1).", ("surface",)),
    Opt("normalize", Normalize, LIB, "How random directions (and files, when given) are "
      "scaled: each filter, each weight tensor, or not at all (random: unit norm; files: as "
      "given). Default: filter for random directions, none for files.", ("surface",),
      noun="normalisation"),
    Opt("log", bool, LIB, "Log-scaled loss in the figure.", ("surface",)),
    Opt("steps", int, LIB, "How many values of α, evenly spaced over --range.",
      ("interpolate",), least=2),
    Opt("reset_bn", bool, LIB, "Re-estimate the BatchNorm statistics on the data at each α "
      "(default: interpolate them).", ("interpolate",)),
    # -- track ----------------------------------------------------------------------------
    Opt("checkpoints", list, None, "Checkpoints of one run: files, folders or globs (quoted), "
      "ordered by the step they record, else the number in their names.", ("track",),
      argument=True, metavar="CHECKPOINTS"),
    Opt("k", int, LIB, "How many top eigenvalues per checkpoint.", ("track",), least=1),
    Opt("k_bottom", int, LIB, "How many bottom eigenvalues per checkpoint (λ_min).",
      ("track",), least=0),
    Opt("tol", float, LIB, "Lanczos: converged when ‖Av−λv‖ ≤ tol·max|λ|.", ("track",),
      positive=True),
    Opt("max_products", int, LIB, "Cap on each checkpoint's eigen-solve products.", ("track",),
      least=1),
    Opt("metrics", str, LIB, "What each row computes, comma-separated, of lambda_max, loss, lr "
      "(η and 2/η), adam (Adam's preconditioned λ_max: needs Adam state) and proxy (critical "
      "sharpness along −g).", ("track",), metavar="A,B"),
    Opt("cold", bool, LIB, "Start each solve from scratch, not from the previous checkpoint's "
      "Ritz vectors.", ("track",)),
    Opt("lr", float, LIB, "Learning rate η for every checkpoint (default: each checkpoint's "
      "optimizer state).", ("track",), positive=True),
    Opt("cache", Path, LIB, "Folder of computed rows: a rerun computes only new checkpoints.",
      ("track",), metavar="DIR"),
    Opt("csv", Path, None, "Write one CSV row per checkpoint to this file.", ("track",),
      metavar="FILE"),
    # -- output ---------------------------------------------------------------------------
    Opt("allow_unconverged", bool, LIB, "Report eigenvalues the solver did not certify "
      "(flagged) instead of exit code 3.", CERTIFIED),
    Opt("json", bool, False, "Print one JSON report on stdout, nothing else.", LOADS),
    Opt("png", Path, None, "Write the figure to this file; the suffix picks the format: .png, "
      ".jpg, .pdf or .svg."),
    Opt("out", Path, None, "Write report.json and the figures to this folder.", LOADS),
    Opt("verbose", bool, False, "Show library logging and warnings on stderr.", LOADS),
)
# fmt: on
del Opt


@functools.cache
def options_of(command: str) -> dict[str, Option]:
    """The options of one command (`ggn_gap`, not `ggn-gap`), in table order."""
    return {o.name: o for o in TABLE if command in o.commands}


def defaults(command: str) -> dict[str, Any]:
    return {name: o.default for name, o in options_of(command).items()}


def all_names() -> list[str]:
    """Every option name of every command: one config file can serve them all."""
    return list(dict.fromkeys(o.name for o in TABLE))


INT64 = (-(2**63), 2**63 - 1)  # what an integer option may hold (torch's and numpy's seeds)


def shown_int(value) -> str:
    """An integer as the user wrote it, a long one shortened: `99999…9999 (400 digits)`."""
    text = str(value).strip()
    return text if len(text) <= 24 else f"{text[:6]}…{text[-4:]} ({len(text.lstrip('-+'))} digits)"


def check_int64(value, where: str) -> None:
    """An integer beyond 64 bits (an option's, or a config value's) as the user's error."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not INT64[0] <= value <= INT64[1]:
            raise InputError(
                f"{where} {shown_int(value)} is beyond the 64-bit integer range",
                "give a value between -9223372036854775808 and 9223372036854775807",
            )


def _int64(flag: str, value) -> int:
    """click's integer conversion, bounded to 64 bits, the wrong value shortened."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        try:
            number = int(str(value).strip(), 10)
        except ValueError:
            raise _bad(flag, f"{shown_int(value)!r} is not a valid integer") from None
    if not INT64[0] <= number <= INT64[1]:
        raise _bad(flag, f"{shown_int(value)} is beyond the 64-bit integer range")
    return number


def _bad(flag: str, message: str) -> Exception:
    return typer.BadParameter(message)  # typer names the option and the command


def _annotation(o: Option):
    if o.argument:
        kind = list[str] if o.type is list else o.type
        info = typer.Argument(help=o.help, show_default=False, metavar=o.metavar)
        return Annotated[kind | None, info]
    shown = "" if o.default is None or o.default is False else f" [default: {o.default}]"
    kind = list[str] if o.type is list else o.type
    extra = {"parser": functools.partial(_int64, o.flag)} if o.type is int else {}
    metavar = o.metavar or ("INTEGER" if o.type is int else None)
    info = typer.Option(o.flag, help=o.help + shown, metavar=metavar, show_default=False, **extra)
    return Annotated[kind | None, info]


def signature(command: str) -> inspect.Signature:
    """The typer signature of a command: every option of the table, None when not given."""
    kind = inspect.Parameter.KEYWORD_ONLY
    return inspect.Signature(
        [
            inspect.Parameter(o.name, kind, default=None, annotation=_annotation(o))
            for o in options_of(command).values()
        ]
    )


def plain(value: Any) -> Any:
    """A typer value as the config would give it: choices as their strings."""
    return value.value if isinstance(value, Enum) else value


def command(
    app: typer.Typer, name: str, examples: tuple[str, ...] = (), metrics: list[str] | None = None
) -> Callable:
    """Register `fn(cli: dict)` as command `name`, its parameters from the table; `examples`
    (command lines) and `metrics` (names a threshold may use) close its --help."""
    key = name.replace("-", "_")
    epilog = "\b\nExamples:\n" + "\n".join(f"  {e}" for e in examples) if examples else ""
    if metrics:
        epilog += "\n\n\b\nMetrics (NAME in --max/--min and the [gate] table):\n"
        epilog += "\n".join(f"  {m}" for m in metrics)

    def register(fn: Callable[[dict], None]) -> Callable[[dict], None]:
        def callback(**given: Any) -> None:
            try:
                fn({k: plain(v) for k, v in given.items()})
            except LandscapeError as exc:  # the library names fields: here they become flags
                from landscape.cli.fields import as_flags

                raise as_flags(exc, key) from None

        callback.__signature__ = signature(key)  # type: ignore[attr-defined]
        callback.__name__ = key
        callback.__doc__ = fn.__doc__
        app.command(name, epilog=epilog or None)(callback)
        return fn

    return register
