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
from landscape.curvature import make_operator  # noqa: E402


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
    hand = timed(hand_written(problem, v), repeat)
    print(f"  {'hand-written double backward, kept':36s} {hand * 1e3:10.2f} {hand / grad:10.2f}")
    for curvature, strategy in routes:
        op = make_operator(curvature, problem, strategy=strategy)
        single = timed(lambda op=op: op.matvec(v), repeat)
        print(f"  {curvature + ' ' + strategy:36s} {single * 1e3:10.2f} {single / grad:10.2f}")
    interleaved(problem, v, hand_written(problem, v), 4 * repeat)


def interleaved(problem, v, hand, repeat):
    """Our kept-graph Hessian product against the hand-written one, alternating which goes
    first: on a shared machine the minimum is the cost of the arithmetic, the median what
    the load adds to it."""
    op = make_operator("hessian", problem, strategy="kept-graph")
    times = {"ours": [], "hand": []}
    pair = [("ours", lambda: op.matvec(v)), ("hand", hand)]
    for i in range(repeat):
        for name, fn in pair if i % 2 else pair[::-1]:
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    ours, hand = times["ours"], times["hand"]
    print(
        f"  kept-graph / hand-written, {repeat} interleaved runs: minimum "
        f"{min(ours) / min(hand):.2f} ({min(ours) * 1e3:.2f} / {min(hand) * 1e3:.2f} ms), "
        f"median {statistics.median(ours) / statistics.median(hand):.2f}"
    )


def hand_written(problem, v):
    """What a user writes: one graph of the whole-data gradient, torch.autograd.grad with v."""
    model, (x, y) = problem.model, problem.batches[0]
    params = list(model.parameters())
    for t in params:
        t.requires_grad_(True)
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel(SDPBackend.MATH):  # flash attention has no double backward
        z = model(**x).logits if isinstance(x, dict) else model(x)
        loss = problem.loss.per_example(z, y).sum() / problem.num_targets
    g = torch.cat([t.reshape(-1) for t in torch.autograd.grad(loss, params, create_graph=True)])

    def product():
        hv = torch.autograd.grad(g, params, v, retain_graph=True)
        return torch.cat([t.reshape(-1) for t in hv])

    return product


if __name__ == "__main__":
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if "--transformer-only" not in sys.argv:
        for name, make in MLPS.items():
            report(name, make(), repeat=30)
    if "--no-transformer" not in sys.argv:
        report("transformer layer (float32)", transformer_layer(), repeat=5)
        report("GPT-2 2 layers, 16 padded sequences × 32 tokens (float32)", small_gpt2(), repeat=5)
