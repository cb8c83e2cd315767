"""A call's keywords (the command line's option names) as each analysis' settings, checked,
with errors naming the keyword (the error's `fields`). The command line is a client: its
commands build their settings here too, and write each field as its flag at their edge
(landscape/cli/fields.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from landscape.api import defaults as D
from landscape.errors import InputError

SOLVER_FIELDS = ("tol", "max_products", "basis_memory")


@dataclass(frozen=True)
class SolverSettings:
    """The eigen-solver's budget, for every call that runs it (spectrum, ggn_gap, sharpness,
    surface, extreme_eigenpairs). `tol`: converged when ‖Av − λv‖ ≤ tol·max|λ| (None: the
    dtype's own, 1e-6 in float64); `max_products`: a cap on each solve's products (None: the
    solver's own); `basis_memory`: bytes (or '500MB', '2GB') for the Krylov basis (None: a
    quarter of the free memory, up to 300 vectors)."""

    tol: float | None = D.SOLVER["tol"]
    max_products: int | None = D.SOLVER["max_products"]
    basis_memory: int | str | None = D.SOLVER["basis_memory"]

    def merged(self, opt: dict, given: set[str]) -> dict:
        """`opt` with this budget; naming a budget keyword as well is refused."""
        both = sorted(given & set(SOLVER_FIELDS))
        if both:
            raise InputError(
                f"{both[0]} was given both as a keyword and in solver=",
                f"give it in one place (solver=SolverSettings({both[0]}=...))",
                both[0],
            )
        return {
            **opt,
            "tol": self.tol,
            "max_products": self.max_products,
            "basis_memory": self.basis_memory,
        }


def tol_of(opt: dict) -> float:
    """tol as given, else the dtype's default (as the command line does when tol is not given)."""
    if opt["tol"] is not None:
        if not float(opt["tol"]) > 0:
            raise InputError(f"tol must be positive, got {opt['tol']}", "use e.g. tol=1e-6", "tol")
        return float(opt["tol"])
    name = str(opt["dtype"]).replace("torch.", "")
    name = {"double": "float64", "float": "float32", "bf16": "bfloat16"}.get(name, name)
    return D.DTYPE_TOL.get(name, D.DTYPE_TOL["float64"])


def check_counts(opt: dict, **least: int) -> None:
    for name, low in least.items():
        value = opt[name]
        if value is not None and (isinstance(value, bool) or int(value) < low):
            raise InputError(
                f"{name} must be an integer ≥ {low}, got {value}", f"give {low} or more", name
            )


def basis_of(opt: dict):
    """The Krylov basis' budget of a solving call (every one takes `basis_memory`)."""
    from landscape.estimators.basis import BasisBudget

    return BasisBudget(memory=memory_of(opt.get("basis_memory")))


def spectrum_settings(opt: dict, num_params: int):
    from landscape.analyses.spectrum import SpectrumSettings

    check_counts(opt, k=0, k_bottom=0, max_products=1, trace_samples=3)
    check_counts(opt, density_starts=1, density_steps=2, mc_samples=1)
    k = int(opt["k"])
    k_bottom = k if opt["k_bottom"] is None else int(opt["k_bottom"])
    for name, value in (("k", k), ("k_bottom", k_bottom)):
        if value > num_params:
            raise InputError(
                f"{name}={value} is larger than the number of parameters ({num_params})",
                f"use {name}={num_params} or fewer",
                name,
            )
    asks_for_something(k, k_bottom, opt)
    return SpectrumSettings(
        k_top=k,
        k_bottom=k_bottom,
        tol=tol_of(opt),
        max_products=opt["max_products"],
        trace=bool(opt["trace"]) or opt["trace_samples"] is not None,
        trace_samples=int(opt["trace_samples"] or D.TRACE_SAMPLES),
        density=bool(opt["density"]),
        density_starts=int(opt["density_starts"]),
        density_steps=int(opt["density_steps"]),
        per_layer=bool(opt["per_layer"]),
        multiplicity_check=bool(opt["multiplicity_check"]),
        seed=int(opt["seed"]),
        basis_budget=basis_of(opt),
    )


def asks_for_something(k: int, k_bottom: int, opt: dict) -> None:
    """A spectrum run that computes nothing would return an empty report."""
    wanted = opt["trace"] or opt["trace_samples"] is not None or opt["density"]
    if k == 0 and k_bottom == 0 and not (wanted or opt["per_layer"]):
        raise InputError(
            "nothing to compute: k=0 and k_bottom=0 ask for no eigenvalue, and neither trace, "
            "density nor per_layer was asked for",
            "ask for something: e.g. k=5, k_bottom=3, trace or density",
            ("k", "k_bottom", "trace", "density", "per_layer"),
        )


UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def memory_of(value, name: str = "basis_memory") -> int | None:
    """Bytes from an integer or '2GB', '500MB', '1.5GiB'; None stays None. `name`: the
    keyword the value was given as, for the error."""
    if value is None:
        return None
    text = str(value).strip().lower().replace(" ", "")
    number = text.rstrip("kmgtib")
    try:
        n = float(number) * UNITS[text[len(number) :]]
    except (KeyError, ValueError):
        n = float("nan")
    if not 1 <= n < float("inf"):
        raise InputError(
            f"{name} {value!r} is not a memory size",
            f"give bytes or a size with a unit, e.g. {name}='2GB' (also kB, MB, TB, KiB, MiB, GiB)",
            name,
        )
    return int(n)


def ggn_gap_settings(opt: dict):
    from landscape.analyses.ggn_gap import GgnGapSettings

    check_counts(opt, max_products=1)
    return GgnGapSettings(
        k=int(opt["k"]),
        tol=tol_of(opt),
        max_products=opt["max_products"],
        probes=int(opt["probes"]),
        random_directions=int(opt["random_directions"]),
        mc_samples=mc_samples_of(opt["mc_samples"]),
        per_layer=bool(opt["per_layer"]),
        exact=bool(opt["exact"]),
        seed=int(opt["seed"]),
        basis_budget=basis_of(opt),
    )


def mc_samples_of(value) -> tuple[int, ...]:
    """'1,4,16,64', an integer or a sequence of integers → sample counts."""
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    try:
        counts = tuple(int(str(item).strip()) for item in items)
    except ValueError:
        counts = ()
    if not counts or any(c < 1 for c in counts):
        raise InputError(
            f"mc_samples {value!r} is not a list of counts ≥ 1",
            "use e.g. mc_samples='1,4,16,64'",
            "mc_samples",
        )
    return counts


def taylor_settings(opt: dict, problem):
    from landscape.analyses.taylor import (
        DIRECTIONS,
        TaylorSettings,
        halving_steps,
        load_direction,
        parse_sweep,
    )
    from landscape.load.vectors import read_vector

    if opt["sweep"]:
        etas = parse_sweep(opt["sweep"])
    elif opt["eps"] is not None or opt["steps"] is not None:
        etas = halving_steps(opt["eps"], opt["steps"])
    else:
        etas = None
    given, vector, label = opt["direction_file"], None, "file"
    if given is not None:
        label = Path(given).name if isinstance(given, str | Path) else "direction_file"
        raw = read_vector(Path(given)) if isinstance(given, str | Path) else given
        vector = load_direction(raw, problem.num_params, problem.dtype, problem.device, label)
    asked = opt["direction"]  # None: all, or only the file's when a direction_file is given
    wanted = [w.strip() for w in str(asked or "all").split(",") if w.strip()]
    if not wanted or any(w not in (*DIRECTIONS, "all") for w in wanted):
        raise InputError(
            f"unknown direction '{asked}'",
            f"use all, or one or more (comma-separated) of: {', '.join(DIRECTIONS)}",
            "direction",
        )
    if vector is not None and asked is None:
        names = []  # only the given direction unless `direction` asks for more
    else:
        names = list(DIRECTIONS) if "all" in wanted else list(dict.fromkeys(wanted))
    return TaylorSettings(
        etas=etas, directions=names, direction_vector=vector, direction_label=label,
        seed=int(opt["seed"]), basis_budget=basis_of(opt),
    )  # fmt: skip


def sharpness_settings(opt: dict, num_params: int):
    from landscape.analyses.sharpness import SharpnessSettings

    check_counts(opt, trace_samples=3, ascent_steps=1, avg_samples=2, slice_points=3)
    check_counts(opt, max_products=1)
    k = int(opt["k"])
    if not 1 <= k <= num_params:
        raise InputError(
            f"k must be between 1 and the number of parameters ({num_params}), got {k}",
            "use e.g. k=5",
            "k",
        )
    for name in ("lr", "rho", "avg_rho", "eps_sharpness", "slice_radius"):
        value = opt[name]
        if value is not None and not 0 < float(value) < float("inf"):
            raise InputError(
                f"{name} must be positive and finite, got {value}", "give a value > 0", name
            )
    momentum = opt["momentum"]
    if momentum is not None and not 0 <= float(momentum) < 1:
        raise InputError(
            f"momentum must be in [0, 1), got {momentum}", "use e.g. momentum=0.9", "momentum"
        )
    return SharpnessSettings(
        k_top=k,
        k_bottom=1,
        tol=tol_of(opt),
        max_products=opt["max_products"],
        trace_samples=int(opt["trace_samples"]),
        lr=None if opt["lr"] is None else float(opt["lr"]),
        lr_source="lr" if opt["lr"] is not None else "",
        momentum=None if momentum is None else float(momentum),
        nesterov=bool(opt["nesterov"]),
        eps_sharpness=float(opt["eps_sharpness"]),
        rho=float(opt["rho"]),
        avg_rho=float(opt["avg_rho"]),
        ascent_steps=int(opt["ascent_steps"]),
        avg_samples=int(opt["avg_samples"]),
        slice_points=int(opt["slice_points"]),
        slice_radius=float(opt["slice_radius"]),
        seed=int(opt["seed"]),
        adam_keep_unmoved=bool(opt["adam_keep_unmoved"]),
        basis_budget=basis_of(opt),
    )


def range_of(value, name: str = "range") -> tuple[float, float]:
    """(a, b) from 'a,b' or a pair, a < b, both finite."""
    parts = list(value) if isinstance(value, list | tuple) else str(value).split(",")
    try:
        lo, hi = (float(p) for p in parts) if len(parts) == 2 else (None, None)
    except (TypeError, ValueError):
        lo = hi = None
    if lo is None or hi is None or not (abs(lo) < float("inf") and abs(hi) < float("inf")):
        raise InputError(
            f"{name} {value!r} is not two numbers a,b", f"write e.g. {name}='-1,1'", name
        )
    if not lo < hi:
        fix = (
            f"give the smaller end first, e.g. {name}='{hi:g},{lo:g}'"
            if lo > hi
            else f"give two different ends, the smaller first, e.g. {name}='{lo - 1:g},{hi + 1:g}'"
        )
        raise InputError(
            f"{name} {value!r}: a must be below b, got a = {lo:g} ≥ b = {hi:g}", fix, name
        )
    return lo, hi


def surface_settings(opt: dict):
    from landscape.analyses.surface import SurfaceSettings
    from landscape.load.vectors import read_tensor_dict

    check_counts(opt, grid=2, max_products=1)
    dims = int(opt["dims"])
    if dims not in (1, 2):
        raise InputError(f"dims must be 1 or 2, got {dims}", "use dims=2 (a plane) or 1", "dims")
    lo, hi = range_of(opt["range"])
    kind, files = str(opt["directions"]).strip(), {}
    if kind not in ("random", "hessian"):
        paths = [Path(p.strip()) for p in kind.split(",") if p.strip()]
        if not paths or not all(p.suffix in (".pt", ".pth", ".safetensors") for p in paths):
            raise InputError(
                f"unknown directions '{kind}'",
                "use random, hessian or two direction files A.pt,B.pt (.pt or .safetensors)",
                "directions",
            )
        if len(paths) != dims:
            raise InputError(
                f"directions names {len(paths)} file(s) for dims {dims}",
                f"give {dims} file(s), comma-separated" + (" (or dims=1)" if dims == 2 else ""),
                ("directions", "dims"),
            )
        kind, files = "files", {p: read_tensor_dict(p) for p in paths}
    # None: filter-normalised random directions, files as given
    normalize = opt["normalize"] or ("none" if kind == "files" else "filter")
    return SurfaceSettings(
        grid=int(opt["grid"]), lo=lo, hi=hi, dims=dims, directions=kind, normalize=normalize,
        seed=int(opt["seed"]), tol=tol_of(opt), max_products=opt["max_products"], files=files,
        log=bool(opt["log"]), basis_budget=basis_of(opt),
    )  # fmt: skip


def interpolation_settings(opt: dict):
    from landscape.analyses.surface import InterpolationSettings

    check_counts(opt, steps=2)
    lo, hi = range_of(opt["range"])
    return InterpolationSettings(
        steps=int(opt["steps"]), lo=lo, hi=hi, reset_bn=bool(opt["reset_bn"])
    )


BUILDERS = {
    "spectrum": lambda opt, p: spectrum_settings(opt, p),
    "ggn_gap": lambda opt, p: ggn_gap_settings(opt),
    "sharpness": lambda opt, p: sharpness_settings(opt, p),
}


def settings_for(command: str, num_params: int | None, **given):
    """An analysis' settings from the keyword defaults and `given`: keywords by their names,
    any other field of the settings (a method constant) replaced afterwards (tests, scripts)."""
    from dataclasses import replace

    table = D.COMMANDS[command]
    opt = {**table, **{k: v for k, v in given.items() if k in table}}
    settings = BUILDERS[command](opt, num_params)
    return replace(settings, **{k: v for k, v in given.items() if k not in table})


def options_for(command: str, **given) -> dict:
    """The keyword defaults of a call with some replaced (tests, scripts)."""
    return {**D.COMMANDS[command], **given}
