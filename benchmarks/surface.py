"""A 21×21 loss surface against 441 single loss evaluations, measured in the same run.

python benchmarks/surface.py [--dtype float32|float64] [--device cpu|cuda]

The problems: a ~90k-parameter CNN (three convolutions, BatchNorm in eval mode, two linear
layers) on 512 random 3×16×16 images, and the bundled sample (a 3.3k-parameter MLP on 1,024
examples), cross-entropy. The 441 single evaluations are
`Problem.loss_at` at each grid point, one after another; the surface is
`analyses.surface.point_losses` in its `auto` mode (what `landscape surface` runs), and for
the record its forced `vmap` and `loop` modes. The ratio is the surface's time over the 441
single evaluations', each measured twice in the order single, surface, surface, single, in
CPU time (one thread: what the other processes of a shared machine do
not change; wall time beside it); the losses agree to round-off.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from landscape.analyses.surface import (  # noqa: E402
    SurfaceSettings,
    axis,
    grid_coords,
    point_losses,
    random_directions,
)
from landscape.losses import get_loss  # noqa: E402
from landscape.problem import build_problem  # noqa: E402


def cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),
        nn.Linear(1024, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


def sample_problem(dtype: torch.dtype, device: str):
    """The bundled sample (3.3k-parameter tanh MLP, 1,024 examples)."""
    from landscape.load import load_checkpoint, load_data
    from sample_models import SAMPLE_CHECKPOINT

    ck = load_checkpoint(SAMPLE_CHECKPOINT, trust=True)
    x, y = load_data(ck.metadata["data"], base_dir=SAMPLE_CHECKPOINT.parent)
    return build_problem(ck.model, x, y, get_loss("cross-entropy"), dtype=dtype, device=device)


def cnn_problem(dtype: torch.dtype, device: str):
    torch.manual_seed(0)
    x, y = torch.randn(512, 3, 16, 16), torch.randint(0, 10, (512,))
    return build_problem(cnn(), x, y, get_loss("cross-entropy"), dtype=dtype, device=device)


def bench(name: str, problem, grid: int, modes: list[str]) -> None:
    settings = SurfaceSettings(grid, -1.0, 1.0, 2, "random", "filter", 0)
    directions = random_directions(problem, 2, "filter", 0)
    coords = grid_coords(axis(settings), 2)
    d1, d2 = (d.flat for d in directions)
    theta = problem.flat_params()
    print(
        f"{name}: {problem.num_params} parameters, {problem.num_samples} examples, "
        f"{str(problem.dtype).replace('torch.', '')} on {problem.device}, {len(coords)} grid "
        f"points, {torch.get_num_threads()} threads"
    )
    problem.loss_at()  # warm-up
    tensors = [d.tensors for d in directions]

    def singles() -> tuple[float, float, torch.Tensor]:
        clock = Clock()
        values = [
            problem.loss_at(theta + float(s) * d1 + float(t) * d2) for s, t in coords.tolist()
        ]
        return (*clock.read(), torch.tensor(values, dtype=torch.float64))

    def surface(mode: str):
        clock = Clock()
        ev = point_losses(problem, problem.params, tensors, coords, mode=mode)
        return (*clock.read(), ev)

    for mode in modes:  # A B B A: a load that drifts during the run cancels out
        s1, w1, single = singles()
        a1, v1, ev = surface(mode)
        a2, v2, _ = surface(mode)
        s2, w2, _ = singles()
        error = float((ev.losses - single).abs().max() / single.abs().max())
        print(
            f"  {len(coords)} single evaluations {(s1 + s2) / 2:6.2f} s CPU, surface ({mode}) "
            f"{(a1 + a2) / 2:6.2f} s CPU: ratio {(a1 + a2) / (s1 + s2):.3f} CPU, "
            f"{(v1 + v2) / (w1 + w2):.3f} wall ({ev.mode}, {ev.points_per_pass} per pass, "
            f"{ev.reductions} passes; {ev.note}; max rel. difference {error:.1e})"
        )


class Clock:
    """CPU time of this process (what other processes' load does not change) and wall time."""

    def __init__(self):
        self.cpu, self.wall = time.process_time(), time.perf_counter()

    def read(self) -> tuple[float, float]:
        return time.process_time() - self.cpu, time.perf_counter() - self.wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--grid", type=int, default=21)
    parser.add_argument("--modes", default="auto,vmap")
    args = parser.parse_args()
    if args.device == "cpu":
        torch.set_num_threads(1)
    dtype, modes = getattr(torch, args.dtype), args.modes.split(",")
    bench("CNN", cnn_problem(dtype, args.device), args.grid, modes)
    bench("sample MLP", sample_problem(dtype, args.device), args.grid, modes)


if __name__ == "__main__":
    main()
