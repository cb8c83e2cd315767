"""Cost of one curvature-vector product per route, as a ratio to one gradient (same run).

python benchmarks/products.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.models import MLPS, small_gpt2, transformer_layer  # noqa: E402
from landscape_cli.curvature import make_operator  # noqa: E402


def timed(fn, repeat=15):
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def report(name, problem, repeat):
    grad = timed(problem.gradient, repeat)
    v = torch.randn(problem.num_params, dtype=problem.dtype)
    print(
        f"\n{name}: p = {problem.num_params}, N = {problem.num_samples}, "
        f"one gradient {grad * 1e3:.2f} ms"
    )
    print(f"  {'route':36s} {'ms/product':>10s} {'× gradient':>10s}")
    routes = [
        ("hessian", "forward-over-reverse"),
        ("hessian", "double-backward"),
        ("hessian", "kept-graph"),
        ("ggn", "double-backward"),
        ("ggn", "kept-graph"),
        ("ef", "kept-graph"),
    ]
    for curvature, strategy in routes:
        op = make_operator(curvature, problem, strategy=strategy)
        single = timed(lambda op=op: op.matvec(v), repeat)
        print(f"  {curvature + ' ' + strategy:36s} {single * 1e3:10.2f} {single / grad:10.2f}")


if __name__ == "__main__":
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name, make in MLPS.items():
        report(name, make(), repeat=30)
    if "--no-transformer" not in sys.argv:
        report("transformer layer (float32)", transformer_layer(), repeat=5)
        report("GPT-2 2 layers, 16 padded sequences × 32 tokens (float32)", small_gpt2(), repeat=5)
