"""Streamed against in-memory data: `landscape spectrum` on the same examples read from one
binary file, either held as tensors (a factory returning (x, y)) or streamed (a factory
returning a Dataset that reads its rows from the file per batch, with os.pread). Reports that
the numbers agree to 1e-12, the wall-time ratio, and the peak RSS of each run (each in its own
process, resource.getrusage), then the peak of a streamed run on 10x the examples against the
1x run (it should stay within 1.2x: model + one batch's graph + the Krylov basis). Both routes
form products by double backward (the streamed route; kept graphs would hold all the data).

    python benchmarks/streaming.py                      # 2,000 and 20,000 examples of 256 floats
    python benchmarks/streaming.py --examples 500 --features 64   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from sample_models.mlp import build  # noqa: E402

FACTORIES = """
import os

import numpy as np
import torch
from torch.utils.data import Dataset

HERE = os.path.dirname(os.path.abspath(__file__))
D = {features}
N = {examples}
LABELS = np.fromfile(os.path.join(HERE, "y.bin"), dtype=np.int64)
INTS = LABELS.tolist()


def _rows(start, count):
    with open(os.path.join(HERE, "x.bin"), "rb") as f:
        buf = os.pread(f.fileno(), count * D * 8, start * D * 8)
    return torch.frombuffer(bytearray(buf), dtype=torch.float64).view(count, D)


class Rows(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return _rows(i, 1)[0], INTS[i]

    def __getitems__(self, index):
        if list(index) != list(range(index[0], index[0] + len(index))):
            return [self[i] for i in index]
        x = _rows(index[0], len(index))
        return [(x[j], INTS[i]) for j, i in enumerate(index)]


def streamed():
    return Rows(N)


def streamed_10x():
    return Rows(10 * N)


def held():
    return _rows(0, N), torch.from_numpy(LABELS[:N].copy())


def held_10x():
    return _rows(0, 10 * N), torch.from_numpy(LABELS[: 10 * N].copy())
"""

MEASURED = """
import json, resource, sys, time
sys.argv = ["landscape", *sys.argv[1:]]
from landscape.cli import main
start = time.perf_counter()
try:
    main()
finally:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    sys.stderr.write("\\nMEASURED " + json.dumps([peak, time.perf_counter() - start]) + "\\n")
"""


def write_data(folder: Path, examples: int, features: int, hidden: int) -> list[str]:
    gen = torch.Generator().manual_seed(0)
    n = 10 * examples
    x = torch.randn(n, features, generator=gen, dtype=torch.float64)
    w = torch.randn(features, 4, generator=gen, dtype=torch.float64)
    y = (x @ w + torch.randn(n, 4, generator=gen, dtype=torch.float64)).argmax(1)
    x.numpy().tofile(folder / "x.bin")
    y.numpy().astype(np.int64).tofile(folder / "y.bin")
    (folder / "data.py").write_text(
        textwrap.dedent(FACTORIES).format(features=features, examples=examples)
    )
    kwargs = {"in_features": features, "hidden": [hidden], "classes": 4}
    torch.manual_seed(0)
    torch.save(build(**kwargs).state_dict(), folder / "m.pt")
    return ["m.pt", "--model-factory", "sample_models.mlp:build", "--factory-kwargs",
            json.dumps(kwargs)]  # fmt: skip


def measure(folder: Path, model: list[str], data: str, extra: list[str]) -> dict:
    args = ["spectrum", *model, "--data", f"data.py:{data}", *extra, "--json"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", MEASURED, *args], cwd=folder, env=env, capture_output=True,
        text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"{data}: exit {out.returncode}\n{out.stderr[-3000:]}")
    peak, wall = json.loads(out.stderr.rsplit("MEASURED ", 1)[1])
    return {"report": json.loads(out.stdout), "peak_mib": peak / 1024, "wall_s": wall}


def largest_difference(a: dict, b: dict) -> float:
    """The largest relative difference over the eigenvalues, the trace and the loss."""
    pairs = [(a["loss"], b["loss"]), (a["trace"]["value"], b["trace"]["value"])]
    for end in ("top", "bottom"):
        pairs += [(u["value"], v["value"]) for u, v in zip(a[end], b[end], strict=True)]
    return max(abs(u - v) / max(abs(u), abs(v), 1e-300) for u, v in pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--features", type=int, default=256)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=250)
    args = parser.parse_args()
    extra = ["--k", "1", "--k-bottom", "1", "--trace-samples", "4", "--density-starts", "2"]
    extra += ["--density-steps", "10", "--batch-size", str(args.batch_size)]
    extra += ["--strategy", "double-backward"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = write_data(folder, args.examples, args.features, args.hidden)
        runs = {name: measure(folder, model, name, extra) for name in
                ("held", "streamed", "streamed_10x", "held_10x")}  # fmt: skip
    size = args.examples * args.features * 8 / 2**20
    print(f"{args.examples} examples of {args.features} float64 ({size:.1f} MiB; 10x: "
          f"{10 * size:.1f} MiB), MLP {args.features}-{args.hidden}-4, batches of "
          f"{args.batch_size}, {runs['held']['report']['products']} products per run")  # fmt: skip
    for name, run in runs.items():
        r = run["report"]
        print(f"  {name:13s} λ_max {r['top'][0]['value']:.15g}  peak RSS {run['peak_mib']:7.1f} "
              f"MiB  wall {run['wall_s']:6.1f} s")  # fmt: skip
    diff = largest_difference(runs["held"]["report"], runs["streamed"]["report"])
    diff10 = largest_difference(runs["held_10x"]["report"], runs["streamed_10x"]["report"])
    ratio = runs["streamed"]["wall_s"] / runs["held"]["wall_s"]
    growth = runs["streamed_10x"]["peak_mib"] / runs["streamed"]["peak_mib"]
    held_growth = runs["held_10x"]["peak_mib"] / runs["held"]["peak_mib"]
    same = "<= 1e-12: same" if max(diff, diff10) <= 1e-12 else "> 1e-12: DIFFERENT"
    print(f"streamed vs held: largest relative difference {diff:.1e} (1x), {diff10:.1e} (10x) "
          f"{same}")  # fmt: skip
    print(f"wall time streamed / held: {ratio:.2f}x")
    print(f"peak RSS 10x / 1x: streamed {growth:.3f}x "
          f"({'within' if growth <= 1.2 else 'OVER'} 1.2x), held {held_growth:.3f}x")  # fmt: skip


if __name__ == "__main__":
    main()
