"""The library's keyword defaults, declared once: every call's signature is built from these
tables (`api.keywords`), and tests/test_library.py checks that each equals the default of the
command-line option of the same name (landscape/cli/options.py). Plain values only: no torch,
so the option table can read them too."""

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
SOLVER = {"tol": None, "max_products": None, "allow_unconverged": False}
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
    "basis_memory": None,  # None: a quarter of the free memory, up to 300 vectors
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
    "direction": "all",
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
    "normalize": "filter",
    "log": False,
}
INTERPOLATE = {"steps": 21, "range": "0,1", "reset_bn": False}
PARAMS = {"params": None}

# The keywords of each call, in signature order (the solver's where the command runs it).
COMMANDS = {
    "problem": PROBLEM,
    "spectrum": {**PROBLEM, **STRATEGY, **SPECTRUM, **SOLVER},
    "ggn_gap": {**PROBLEM, **STRATEGY, **GGN_GAP, **SOLVER},
    "taylor_check": {**PROBLEM, **STRATEGY, **TAYLOR_CHECK},
    "sharpness": {**PROBLEM, **STRATEGY, **SHARPNESS, **SOLVER},
    "surface": {**PROBLEM, **STRATEGY, **SURFACE, **SOLVER},
    "interpolate": {**PROBLEM, **STRATEGY, **INTERPOLATE},
    "params": PARAMS,
}
