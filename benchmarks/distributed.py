"""Two torchrun processes against one on a problem whose products dominate: whole `landscape
spectrum` runs (start-up, loading and the eigen-solve all counted), same options, one machine.

A CNN of 85k parameters (two 3×3 convolutions, a linear head) on 1024 16×16 images with 10
classes, float64, Hessian top-k by Lanczos. Each process is pinned to one thread
(OMP_NUM_THREADS=1), so 2 processes use 2 cores and 1 process uses 1: the speedup of the whole
run is t(1) / t(2). On a machine whose cores others use too the figure is noisy; each side runs
`--repeat` times and the medians are compared.

python benchmarks/distributed.py [--k 3] [--repeat 1] [--examples 1024] [--dtype float64]

Measured once (Dec 2026, 2 cores shared with other jobs, load average 2-5): 17 products,
1 process 485.5 s, 2 processes 184.9 s, 2.63× (above 2: the one process holds the whole
batch's graphs, and its system time, allocation, was half its run; the others' load varied
too), eigenvalues equal to 6e-16. float64 convolutions run on PyTorch's slow CPU path, hence
~28 s per product.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]

FACTORY = """
from torch import nn


def build():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.Tanh(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.Tanh(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 4 * 4, 64), nn.Tanh(), nn.Linear(64, 10),
    )
"""


def make_problem(folder: Path, examples: int) -> None:
    """cnn.py (the factory), cnn.pt (its state dict after a few Adam steps), data.pt."""
    (folder / "cnn.py").write_text(FACTORY)
    sys.path.insert(0, str(folder))
    from cnn import build

    torch.manual_seed(0)
    model = build()
    x = torch.randn(examples, 1, 16, 16)
    y = (x[:, 0, :8].mean((1, 2)) * 40).long().clamp(-5, 4) + 5
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(30):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[:512]), y[:512]).backward()
        opt.step()
    torch.save(model.state_dict(), folder / "cnn.pt")
    torch.save({"x": x, "y": y}, folder / "data.pt")
    print(f"CNN: {sum(p.numel() for p in model.parameters())} parameters, {examples} examples")


def spectrum(folder: Path, processes: int, k: int, dtype: str) -> tuple[float, dict]:
    args = ["cnn.pt", "--model-factory", "cnn.py:build", "--data", "data.pt", "--json"]
    args += ["--dtype", dtype, "--k", str(k), "--k-bottom", "0", "--allow-unconverged"]
    if processes == 1:
        command = [sys.executable, "-m", "landscape", "spectrum", *args]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        command += ["--nproc-per-node", str(processes), "-m", "landscape", "spectrum", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=folder)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(result.stderr[-3000:])
    return seconds, json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--examples", type=int, default=1024)
    parser.add_argument("--dtype", default="float64")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_problem(folder, opts.examples)
        runs = {1: [], 2: []}
        reports = {}
        for _ in range(opts.repeat):
            for processes in (1, 2):
                seconds, reports[processes] = spectrum(folder, processes, opts.k, opts.dtype)
                runs[processes].append(seconds)
        one, two = (statistics.median(runs[p]) for p in (1, 2))
        top1 = [e["value"] for e in reports[1]["top"]]
        top2 = [e["value"] for e in reports[2]["top"]]
        worst = max(abs(a - b) / abs(a) for a, b in zip(top1, top2, strict=True))
        products = reports[1]["solver"]["products"]
        converged = all(e["converged"] for e in reports[1]["top"])
        print(
            f"spectrum --k {opts.k}: {products} Hessian-vector products, {opts.dtype}, "
            f"{'all' if converged else 'not all'} certified"
        )
        print(f"  1 process   {one:7.1f} s (runs: {', '.join(f'{t:.1f}' for t in runs[1])})")
        print(f"  2 processes {two:7.1f} s (runs: {', '.join(f'{t:.1f}' for t in runs[2])})")
        print(f"  speedup of the whole run: {one / two:.2f}×")
        print(f"  top eigenvalues {', '.join(f'{v:.6g}' for v in top1)}; 2 vs 1: {worst:.1e} rel")
        print(f"  load average during the runs: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
