"""Top-5 and bottom-5 Hessian eigenvalues: products, wall time and error against a dense
float64 reference, for our Lanczos over kept-graph products, scipy's eigsh over
forward-over-reverse products (its defaults), and deflated power iteration (100 iterations,
tolerance 1e-3, as the common tools use). All in one run.

    python benchmarks/eigensolvers.py            # MLPs, then the transformer layer
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, eigsh

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.models import MLPS, TransformerProblem  # noqa: E402
from landscape.curvature import make_operator  # noqa: E402
from landscape.estimators.lanczos import extreme_eigenpairs  # noqa: E402

try:  # scipy's OpenBLAS threads spin after each ARPACK call and slow the products down
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None


def power_iteration(op, k, iters=100, tol=1e-3, seed=0):
    """Deflated power iteration for the k largest-magnitude eigenvalues (PyHessian-style)."""
    gen = torch.Generator().manual_seed(seed)
    found, values = [], []
    for _ in range(k):
        v = torch.randn(op.num_params, generator=gen, dtype=torch.float64).to(op.dtype)
        v /= v.norm()
        value = None
        for _ in range(iters):
            w = op.matvec(v)
            for u in found:
                w -= (u @ w) * u
            new = float(v @ w)
            v = w / w.norm()
            if value is not None and abs(new - value) < tol * (abs(value) + 1e-6):
                value = new
                break
            value = new
        found.append(v)
        values.append(value)
    return sorted(values, reverse=True)


def scipy_eigsh(op, k, which):
    def mv(x):
        t = torch.from_numpy(np.ascontiguousarray(x).reshape(-1)).to(op.dtype)
        return op.matvec(t).double().numpy()

    lin = LinearOperator(op.shape, matvec=mv, dtype=np.float64)
    values = eigsh(lin, k=k, which=which, return_eigenvectors=False)
    return sorted(values.tolist(), reverse=(which == "LA"))


def relerr(values, truth, scale):
    return max(abs(a - b) for a, b in zip(values, truth, strict=True)) / scale


def run(name, problem, dense=True, which=("top", "bottom"), reference=None):
    print(f"\n{name}: p = {problem.num_params}, N = {problem.num_samples}, {problem.dtype}")
    truth = None
    if dense:
        ref = make_operator("hessian", problem, strategy="kept-graph").dense().double()
        truth = torch.linalg.eigvalsh(ref)
    else:  # our own solver at a tight tolerance on a float64 copy
        r = extreme_eigenpairs(make_operator("hessian", reference), 5, 0, tol=1e-10)
        truth = torch.tensor([e.value for e in r.top][::-1])
    scale = float(truth.abs().max())
    print(f"  {'method':44s} {'products':>8s} {'seconds':>8s} {'rel. error':>10s}")

    def line(label, fn, truth_part, strategy):
        op = make_operator("hessian", problem, strategy=strategy)
        t = time.perf_counter()
        values = fn(op)
        seconds = time.perf_counter() - t
        err = relerr(values, truth_part, scale) if truth_part is not None else float("nan")
        print(f"  {label:44s} {op.products:8d} {seconds:8.2f} {err:10.1e}")

    top_true = truth.flip(0)[:5].tolist()
    bottom_true = truth[:5].tolist() if dense else None
    if "top" in which:
        line(
            "top-5  landscape Lanczos (kept graph, tol 1e-6)",
            lambda op: [e.value for e in extreme_eigenpairs(op, 5, 0, tol=1e-6).top],
            top_true,
            "kept-graph",
        )
        line(
            "top-5  scipy eigsh (forward-over-reverse)",
            lambda op: scipy_eigsh(op, 5, "LA"),
            top_true,
            "forward-over-reverse",
        )
        line(
            "top-5  power iteration (kept graph)",
            lambda op: power_iteration(op, 5),
            top_true,
            "kept-graph",
        )
    if "bottom" in which and dense:
        line(
            "bottom-5 landscape Lanczos (kept graph, tol 1e-6)",
            lambda op: [e.value for e in extreme_eigenpairs(op, 0, 5, tol=1e-6).bottom],
            bottom_true,
            "kept-graph",
        )
        line(
            "bottom-5 landscape Lanczos (kept graph, tol 1e-4)",
            lambda op: [e.value for e in extreme_eigenpairs(op, 0, 5, tol=1e-4).bottom],
            bottom_true,
            "kept-graph",
        )
        line(
            "bottom-5 scipy eigsh (forward-over-reverse)",
            lambda op: scipy_eigsh(op, 5, "SA"),
            bottom_true,
            "forward-over-reverse",
        )
        line(
            "top-5 + bottom-5 landscape, one Krylov space",
            lambda op: [e.value for e in extreme_eigenpairs(op, 5, 5, tol=1e-6).bottom],
            bottom_true,
            "kept-graph",
        )


if __name__ == "__main__":
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    limit = threadpool_limits(limits=1, user_api="blas") if threadpool_limits else None
    for name, make in MLPS.items():
        run(name, make())
    if "--no-transformer" not in sys.argv:
        layer = TransformerProblem()
        run(
            "transformer layer (float32)",
            layer.build(torch.float32),
            dense=False,
            which=("top",),
            reference=layer.build(torch.float64),
        )
