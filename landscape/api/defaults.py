"""The keyword defaults, declared once for the library and the command line: every call's
signature is built from these tables (`api.keywords`), and the option table
(landscape/cli/options.py) takes each option's default from here (tests/test_structure.py
checks that it states none of its own). Plain values only and no torch import, so that
the help of the command line can read them without loading a numerical library."""

from __future__ import annotations

# The problem: how the data, the loss and θ are read (every call but `params`).
PROBLEM = {
    "target": None,
    "output": None,
    "ignore_index": -100,
    "class_dim": None,
    "samples": None,
    "batch_size": None,
    "dtype": "float64",
    "device": "auto",
    "seed": 0,
    "params": None,
    "shift_labels": "auto",
}
LOSS = "cross-entropy"
STRATEGY = {"strategy": "auto"}

# The eigen-solver. tol None: the dtype's own (DTYPE_TOL), as the command line does when
# --tol is not given (its table shows the float64 value).
# basis_memory None: a quarter of the free memory, up to 300 vectors (every solving call).
SOLVER = {"tol": None, "max_products": None, "basis_memory": None, "allow_unconverged": False}
DTYPE_TOL = {"float64": 1e-6, "float32": 1e-4, "bfloat16": 1e-2}
TRACE_SAMPLES = 60  # Hutch++ products when a trace is asked for without a count

SPECTRUM = {
    "curvature": "hessian",
    "k": 5,
    "k_bottom": None,  # None: k
    "mc_samples": None,  # None: the exact Fisher
    "trace": False,
    "trace_samples": None,  # None: TRACE_SAMPLES; giving it asks for the trace
    "density": False,
    "density_starts": 8,
    "density_steps": 80,
    "per_layer": False,
    "multiplicity_check": False,
}
GGN_GAP = {
    "k": 5,
    "probes": 30,
    "random_directions": 2,
    "mc_samples": "1,4,16,64",
    "per_layer": False,
    "exact": False,
}
TAYLOR_CHECK = {
    "eps": None,
    "steps": None,
    "sweep": None,
    "direction": None,  # None: all, or only direction_file's when one is given
    "direction_file": None,
}
SHARPNESS = {
    "k": 5,
    "trace_samples": TRACE_SAMPLES,
    "lr": None,
    "momentum": None,
    "nesterov": False,
    "rho": 1e-3,
    "avg_rho": 0.1,
    "eps_sharpness": 1e-3,
    "ascent_steps": 20,
    "avg_samples": 32,
    "slice_points": 41,
    "slice_radius": 1.0,
    "adam_keep_unmoved": False,
}
SURFACE = {
    "grid": 21,
    "range": "-1,1",
    "dims": 2,
    "directions": "random",
    "normalize": None,  # None: "filter" for random directions, "none" for files
    "log": False,
}
INTERPOLATE = {"steps": 21, "range": "0,1", "reset_bn": False}
PARAMS = {"params": None}
# `track`: a λ_max per checkpoint; tol 1e-3 (a curve over a run, not one figure).
TRACK = {
    "k": 1,
    "k_bottom": 0,
    "tol": 1e-3,
    "max_products": None,
    "metrics": "lambda_max,loss,lr,proxy",  # of lambda_max, loss, lr, adam, proxy
    "cold": False,
    "lr": None,  # None: each checkpoint's optimizer state
    "cache": None,
}

# The keywords of each call, in signature order (the solver's where the command runs it).
COMMANDS = {
    "problem": PROBLEM,
    "spectrum": {**PROBLEM, **STRATEGY, **SPECTRUM, **SOLVER},
    "ggn_gap": {**PROBLEM, **STRATEGY, **GGN_GAP, **SOLVER},
    "taylor_check": {**PROBLEM, **STRATEGY, **TAYLOR_CHECK, "basis_memory": SOLVER["basis_memory"]},
    "sharpness": {**PROBLEM, **STRATEGY, **SHARPNESS, **SOLVER},
    "surface": {**PROBLEM, **STRATEGY, **SURFACE, **SOLVER},
    "interpolate": {**PROBLEM, **STRATEGY, **INTERPOLATE},
    "params": PARAMS,
    "track": {**PROBLEM, **STRATEGY, **TRACK},
}
