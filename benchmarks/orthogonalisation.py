"""Where the eigen-solver's time goes at p = 1.78M (the transformer layer, float32 products,
tol 1e-4): products, the three-term recurrence's local passes (the last two basis vectors)
and reorthogonalisation (passes over the whole basis), with partial reorthogonalisation
(the default from 100k parameters) against a full pass every step. In one run.

    python benchmarks/orthogonalisation.py [--only top|bottom]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.models import TransformerProblem  # noqa: E402
from landscape.curvature import make_operator  # noqa: E402
from landscape.estimators import basis as basis_module  # noqa: E402
from landscape.estimators import lanczos  # noqa: E402

CLOCK = {"local": 0.0, "full": 0.0}


def clocked(original):
    def run(self, w, h, rows, norm):
        start = time.perf_counter()
        out = original(self, w, h, rows, norm)
        kind = "local" if rows.stop - rows.start <= 2 else "full"
        CLOCK[kind] += time.perf_counter() - start
        return out

    return run


def solve(op, end: str, partial: bool):
    lanczos.PARTIAL_FROM = 0 if partial else 10**15
    CLOCK.update(local=0.0, full=0.0)
    k = (5, 0) if end == "top" else (0, 5)
    start = time.perf_counter()
    result = lanczos.extreme_eigenpairs(op, *k, tol=1e-4)
    return result, time.perf_counter() - start, dict(CLOCK)


def line(label, result, seconds, clock):
    steps = result.products - len(result.top) - len(result.bottom)  # the rest: certificates
    print(
        f"  {label:8s} {result.products:4d} products, {result.full_passes:4d}/{steps} steps "
        f"with a full pass, {seconds:6.2f} s: reorthogonalisation {clock['full']:6.2f} s "
        f"({clock['full'] / seconds:4.0%}), local passes {clock['local']:5.2f} s "
        f"({clock['local'] / seconds:4.0%}), converged {result.converged}, "
        f"max |XᵀX − I| {result.orthogonality:.1e}"
    )


def main():
    torch.set_num_threads(2)
    basis_module.Basis._pass = clocked(basis_module.Basis._pass)
    op = make_operator("hessian", TransformerProblem().build(torch.float32))
    print(f"transformer layer, p = {op.num_params:,}, float32 products, tol 1e-4, 2 threads")
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
    for end in ("top", "bottom"):
        if only and end != only:
            continue
        print(f"{end}-5")
        partial = solve(op, end, True)
        full = solve(op, end, False)
        line("partial", *partial)
        line("full", *full)
        a, b = partial[0], full[0]
        values = [(x.value, y.value) for x, y in zip(a.top + a.bottom, b.top + b.bottom)]
        scale = max(abs(y) for _, y in values)
        diff = max(abs(x - y) for x, y in values) / scale
        print(f"  wall time partial / full {partial[1] / full[1]:.2f}, max |Δλ|/max|λ| {diff:.1e}")


if __name__ == "__main__":
    main()
