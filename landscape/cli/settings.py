"""From resolved options to each analysis' settings; errors name the flag (or the config key,
or the checkpoint metadata) the bad value came from."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from landscape.cli.options import defaults
from landscape.errors import InputError
from landscape.estimators.basis import BasisBudget
from landscape.load.vectors import read_tensor_dict, read_vector

if TYPE_CHECKING:  # each builder imports its analysis: a command loads only its own
    from landscape.analyses.ggn_gap import GgnGapSettings
    from landscape.analyses.sharpness import SharpnessSettings
    from landscape.analyses.spectrum import SpectrumSettings
    from landscape.analyses.surface import InterpolationSettings, SurfaceSettings
    from landscape.analyses.taylor import TaylorSettings


def options_for(command: str, **given) -> dict:
    """The table's defaults of a command with some options replaced (tests, scripts)."""
    return {**defaults(command), **given}


def settings_for(command: str, num_params: int, **given):
    """An analysis' settings from the table's defaults and `given`: options by their names,
    and any other field of the settings (a method constant) replaced afterwards."""
    table = defaults(command)
    opt = options_for(command, **{k: v for k, v in given.items() if k in table})
    build = {
        "spectrum": lambda: spectrum_settings(opt, num_params),
        "ggn_gap": lambda: ggn_gap_settings(opt),
        "sharpness": lambda: sharpness_settings(opt, {}, num_params),
    }[command]
    return replace(build(), **{k: v for k, v in given.items() if k not in table})


# The default --tol of each dtype, when --tol is not given: a residual its products reach
# (on the sample, products in float32 are good to ~1e-7·max|λ|, in bfloat16 to ~3e-3·max|λ|).
DTYPE_TOL = {"float64": 1e-6, "float32": 1e-4, "bfloat16": 1e-2}
DTYPE_ALIASES = {"double": "float64", "float": "float32", "bf16": "bfloat16"}


def default_tol(opt: dict, sources: dict[str, str] | None) -> float:
    """--tol as given, else the default of the run's dtype."""
    if sources is None or sources.get("tol", "default") != "default":
        return float(opt["tol"])
    dtype = str(opt.get("dtype") or "float64")
    return DTYPE_TOL.get(DTYPE_ALIASES.get(dtype, dtype), float(opt["tol"]))


def spectrum_settings(
    opt: dict, num_params: int, sources: dict[str, str] | None = None
) -> SpectrumSettings:
    """`sources` (where each option came from): a --tol left at its default follows the
    dtype (DTYPE_TOL); without them --tol is taken as it is."""
    from landscape.analyses.spectrum import SpectrumSettings

    k = int(opt["k"])
    k_bottom = k if opt["k_bottom"] is None else int(opt["k_bottom"])
    for name, value in (("--k", k), ("--k-bottom", k_bottom)):
        if value > num_params:
            raise InputError(
                f"{name} {value} is larger than the number of parameters ({num_params})",
                f"use {name} {num_params} or fewer",
            )
    _asks_for_something(k, k_bottom, opt)
    return SpectrumSettings(
        k_top=k,
        k_bottom=k_bottom,
        tol=default_tol(opt, sources),
        max_products=opt["max_products"],
        trace=bool(opt["trace"]) or opt["trace_samples"] is not None,
        trace_samples=int(opt["trace_samples"] or defaults("sharpness")["trace_samples"]),
        density=bool(opt["density"]),
        density_starts=int(opt["density_starts"]),
        density_steps=int(opt["density_steps"]),
        per_layer=bool(opt["per_layer"]),
        multiplicity_check=bool(opt["multiplicity_check"]),
        seed=int(opt["seed"]),
        basis_budget=BasisBudget(memory=parse_bytes(opt.get("basis_memory"), "--basis-memory")),
    )


def _asks_for_something(k: int, k_bottom: int, opt: dict) -> None:
    """A spectrum run that computes nothing would print an empty report and exit 0."""
    wanted = opt["trace"] or opt["trace_samples"] is not None or opt["density"]
    if k == 0 and k_bottom == 0 and not (wanted or opt["per_layer"]):
        raise InputError(
            "nothing to compute: --k 0 and --k-bottom 0 ask for no eigenvalue, and neither "
            "--trace, --density nor --per-layer was asked for",
            "ask for something: e.g. --k 5, --k-bottom 3, --trace or --density",
        )


BYTE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def parse_bytes(value, flag: str) -> int | None:
    """`2GB`, `500MB`, `1.5GiB`, `123456` (bytes) → bytes; None stays None."""
    if value is None:
        return None
    text = str(value).strip().lower().replace(" ", "")
    number = text.rstrip("kmgtib")
    unit = text[len(number) :]
    try:
        n = float(number) * BYTE_UNITS[unit]
    except (KeyError, ValueError):
        n = float("nan")
    if not (n >= 1 and n < float("inf")):
        raise InputError(
            f"{flag} '{value}' is not a memory size",
            f"give bytes or a size with a unit, e.g. {flag} 2GB (also kB, MB, TB, KiB, MiB, GiB)",
        )
    return int(n)


def ggn_gap_settings(opt: dict) -> GgnGapSettings:
    from landscape.analyses.ggn_gap import GgnGapSettings

    return GgnGapSettings(
        k=int(opt["k"]),
        tol=float(opt["tol"]),
        max_products=opt["max_products"],
        probes=int(opt["probes"]),
        random_directions=int(opt["random_directions"]),
        mc_samples=parse_mc_samples(opt["mc_samples"]),
        per_layer=bool(opt["per_layer"]),
        exact=bool(opt["exact"]),
        seed=int(opt["seed"]),
    )


def parse_mc_samples(value) -> tuple[int, ...]:
    """`1,4,16,64` (command line), an integer or a list of integers (config) → sample counts."""
    if value is None:
        value = defaults("ggn_gap")["mc_samples"]
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    try:
        counts = tuple(int(str(item).strip()) for item in items)
    except ValueError:
        counts = ()
    if not counts or any(c < 1 for c in counts):
        raise InputError(
            f"--mc-samples '{value}' is not a list of counts ≥ 1", "use e.g. --mc-samples 1,4,16,64"
        )
    return counts


def taylor_settings(opt: dict, problem, direction_given: bool) -> TaylorSettings:
    from landscape.analyses.taylor import (
        TaylorSettings,
        halving_steps,
        load_direction,
        parse_sweep,
    )

    if opt["sweep"]:
        etas = parse_sweep(opt["sweep"])
    elif opt["eps"] is not None or opt["steps"] is not None:
        etas = halving_steps(opt["eps"], opt["steps"])
    else:
        etas = None  # chosen per direction
    vector = None
    if opt.get("direction_file"):
        path = Path(opt["direction_file"])
        vector = load_direction(
            read_vector(path), problem.num_params, problem.dtype, problem.device, path.name
        )
    names = _direction_names(str(opt["direction"]), vector is not None and not direction_given)
    label = Path(opt["direction_file"]).name if vector is not None else "file"
    return TaylorSettings(
        etas=etas,
        directions=names,
        direction_vector=vector,
        direction_label=label,
        seed=int(opt["seed"]),
    )


def _direction_names(value: str, file_only: bool) -> list[str]:
    from landscape.analyses.taylor import DIRECTIONS

    wanted = [w.strip() for w in value.split(",") if w.strip()]
    unknown = [w for w in wanted if w not in (*DIRECTIONS, "all")]
    if unknown or not wanted:
        raise InputError(
            f"unknown --direction '{value}'",
            f"use all, or one or more (comma-separated) of: {', '.join(DIRECTIONS)}",
        )
    if file_only and wanted == ["all"]:
        return []  # only the file's direction unless --direction asks for more
    return list(DIRECTIONS) if "all" in wanted else list(dict.fromkeys(wanted))


def sharpness_settings(
    opt: dict, sources: dict[str, str], num_params: int, k_top: int | None = None
) -> SharpnessSettings:
    """Checked settings from the resolved options (`k_top` overrides --k)."""
    from landscape.analyses.sharpness import SharpnessSettings

    k = int(opt["k"]) if k_top is None else k_top
    if not 1 <= k <= num_params:
        raise InputError(
            f"--k must be between 1 and the number of parameters ({num_params}), got {k}",
            "use e.g. --k 5",
        )
    lr, source = _learning_rate(opt["lr"], sources.get("lr", "default"))
    return SharpnessSettings(
        k_top=k,
        k_bottom=1,
        tol=float(opt["tol"]),
        max_products=opt["max_products"],
        trace_samples=int(opt["trace_samples"]),
        lr=lr,
        lr_source=source,
        momentum=None if opt.get("momentum") is None else float(opt["momentum"]),
        nesterov=bool(opt.get("nesterov")),
        eps_sharpness=float(opt["eps_sharpness"]),
        rho=float(opt["rho"]),
        avg_rho=float(opt["avg_rho"]),
        ascent_steps=int(opt["ascent_steps"]),
        avg_samples=int(opt["avg_samples"]),
        slice_points=int(opt.get("slice_points") or defaults("sharpness")["slice_points"]),
        slice_radius=float(opt.get("slice_radius") or defaults("sharpness")["slice_radius"]),
        seed=int(opt["seed"]),
    )


LR_SOURCES = {
    "cli": "--lr",
    "config": "config",
    "metadata": "checkpoint metadata",
    "default": "option",
}


def _learning_rate(value, source: str) -> tuple[float | None, str]:
    """η and where it came from; a checkpoint's own lr is checked here (options were earlier)."""
    if value is None:
        return None, ""
    if source == "metadata" and not (float(value) > 0 and float(value) != float("inf")):
        raise InputError(
            f"the checkpoint's lr must be positive and finite, got {value}", "use e.g. 1e-3"
        )
    return float(value), LR_SOURCES[source]


def parse_range(value, flag: str = "--range") -> tuple[float, float]:
    """`a,b` with a < b, both finite (write `--range=-1,1`: a leading minus is not a flag)."""
    parts = str(value).split(",")
    try:
        lo, hi = (float(p) for p in parts) if len(parts) == 2 else (math.nan, math.nan)
    except ValueError:
        lo, hi = math.nan, math.nan
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InputError(f"{flag} '{value}' is not two numbers a,b", f"write e.g. {flag}=-1,1")
    if not lo < hi:
        raise InputError(
            f"{flag} {value}: a must be below b, got a = {lo:g} ≥ b = {hi:g}",
            f"give the smaller end first, e.g. {flag}={min(lo, hi):g},{max(lo, hi):g}",
        )
    return lo, hi


def surface_settings(opt: dict, sources: dict[str, str]) -> SurfaceSettings:
    """Checked settings of `landscape surface`; direction files are read (safely) here."""
    from landscape.analyses.surface import SurfaceSettings

    dims = int(opt["dims"])
    if dims not in (1, 2):
        raise InputError(f"--dims must be 1 or 2, got {dims}", "use --dims 2 (a plane) or 1")
    lo, hi = parse_range(opt["range"])
    kind, files = _surface_directions(str(opt["directions"]).strip(), dims)
    normalize = str(opt["normalize"])
    if kind == "files" and sources.get("normalize", "default") == "default":
        normalize = "none"  # files are used as given unless --normalize says otherwise
    return SurfaceSettings(
        grid=int(opt["grid"]),
        lo=lo,
        hi=hi,
        dims=dims,
        directions=kind,
        normalize=normalize,
        seed=int(opt["seed"]),
        tol=float(opt["tol"]),
        max_products=opt["max_products"],
        files=files,
        log=bool(opt["log"]),
    )


def _surface_directions(value: str, dims: int) -> tuple[str, dict]:
    if value in ("random", "hessian"):
        return value, {}
    paths = [Path(p.strip()) for p in value.split(",") if p.strip()]
    if not paths or not all(p.suffix in (".pt", ".pth", ".safetensors") for p in paths):
        raise InputError(
            f"unknown --directions '{value}'",
            "use random, hessian or two direction files A.pt,B.pt (.pt or .safetensors)",
        )
    if len(paths) != dims:
        raise InputError(
            f"--directions names {len(paths)} file(s) for --dims {dims}",
            f"give {dims} file(s), comma-separated" + (" (or --dims 1)" if dims == 2 else ""),
        )
    return "files", {p: read_tensor_dict(p) for p in paths}


def interpolation_settings(opt: dict) -> InterpolationSettings:
    from landscape.analyses.surface import InterpolationSettings

    lo, hi = parse_range(opt["range"])
    return InterpolationSettings(
        steps=int(opt["steps"]), lo=lo, hi=hi, reset_bn=bool(opt["reset_bn"])
    )
