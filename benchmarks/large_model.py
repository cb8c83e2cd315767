"""A model of ≥ 25M parameters on the CPU: its top Hessian eigenvalue to 1e-4 (relative) with
the Krylov basis held in a memory budget, and the peak memory of the run against the model.

Each budget runs in a fresh process (peak RSS from `resource` is per process): a 1 GB budget,
which holds only a float32 basis of a few vectors, and a 4 GB one, which holds a float64 basis
of more: two independent solves of the same eigenvalue that must agree to 1e-4.

    python benchmarks/large_model.py                 # both budgets, then the table
    python benchmarks/large_model.py --width 1024    # a smaller model (a quick look)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from landscape.curvature import make_operator  # noqa: E402
from landscape.estimators.basis import BasisBudget  # noqa: E402
from landscape.estimators.lanczos import extreme_eigenpairs  # noqa: E402
from landscape.losses import get_loss  # noqa: E402
from landscape.problem import build_problem  # noqa: E402

BUDGETS = (10**9, 4 * 10**9)
TOL = 1e-4


def problem(width: int, n: int = 32, inputs: int = 512, classes: int = 10):
    """A tanh MLP inputs → width → width → width → classes (27.6M parameters at width 3584)
    at its random initialisation, on n random examples, in float32."""
    torch.manual_seed(0)
    sizes = (inputs, width, width, width, classes)
    layers: list[nn.Module] = []
    for a, b in zip(sizes, sizes[1:], strict=False):
        layers += [nn.Linear(a, b), nn.Tanh()]
    model = nn.Sequential(*layers[:-1])
    x = torch.randn(n, inputs)
    y = torch.randint(0, classes, (n,))
    return build_problem(model, x, y, get_loss("cross-entropy"), dtype=torch.float32)


def one(width: int, budget: int) -> dict:
    """One solve in this process: its figures and this process' peak RSS."""
    torch.set_num_threads(1)
    prob = problem(width)
    op = make_operator("hessian", prob)
    start = time.perf_counter()
    eig = extreme_eigenpairs(op, 1, 0, tol=TOL, basis_budget=BasisBudget(memory=budget))
    top = eig.top[0]
    return {
        "params": prob.num_params,
        "model_bytes": prob.num_params * 4,
        "budget": budget,
        "basis": f"{eig.basis.vectors} {eig.basis.dtype}",
        "basis_bytes": eig.basis.bytes,
        "value": top.value,
        "bound": top.error_bound,
        "converged": eig.converged,
        "products": eig.products,
        "restarts": eig.restarts,
        "seconds": time.perf_counter() - start,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "strategy": op.strategy,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=3584)
    parser.add_argument("--one", type=int, default=None, help="(internal) one budget, in bytes")
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(one(args.width, args.one)))
        return
    rows = []
    for budget in BUDGETS:
        cmd = [sys.executable, __file__, "--width", str(args.width), "--one", str(budget)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    gb = 1e9
    print(
        f"tanh MLP, {rows[0]['params']:,} parameters ({rows[0]['model_bytes'] / gb:.2f} GB in "
        f"float32), 32 examples, Hessian top-1 to tol {TOL:g}, {rows[0]['strategy']} products"
    )
    print("| budget | basis | basis GB | λ_max | bound/λ | products | restarts | s | peak RSS GB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['budget'] / gb:g} GB | {r['basis']} | {r['basis_bytes'] / gb:.2f} | "
            f"{r['value']:.8g} | {r['bound'] / abs(r['value']):.1e} | {r['products']} | "
            f"{r['restarts']} | {r['seconds']:.0f} | {r['peak_rss'] / gb:.2f} |"
        )
    a, b = rows[0]["value"], rows[1]["value"]
    print(f"relative difference of the two λ_max: {abs(a - b) / abs(b):.1e} (tol {TOL:g})")
    for r in rows:
        print(
            f"peak RSS {r['peak_rss'] / gb:.2f} GB = {r['peak_rss'] / r['model_bytes']:.1f}× the "
            f"model; less the basis: {(r['peak_rss'] - r['basis_bytes']) / r['model_bytes']:.1f}×"
        )


if __name__ == "__main__":
    main()
