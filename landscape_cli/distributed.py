"""Data-parallel runs under `torchrun`: each rank holds the model and a disjoint, contiguous
shard of the examples; every loss, gradient and curvature product is one `all_reduce` (a sum)
at `Problem.batch_sum`; everything else (the eigen-solver, trace, density) is replicated and
identical on all ranks (same seeds, same reduced numbers). Rank 0 alone prints and writes.

torchrun sets RANK, WORLD_SIZE and the rendezvous variables; without them a run is one
process and nothing here is used. gloo on the CPU, nccl on CUDA.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from landscape_cli.errors import InputError

TIMEOUT = timedelta(minutes=3)  # a rank that dies or hangs fails the run within this


@dataclass(frozen=True)
class World:
    rank: int
    size: int
    backend: str

    def shard(self, n: int) -> slice:
        """This rank's contiguous share of n examples (the first n % size ranks get one more)."""
        base, extra = divmod(n, self.size)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (self.rank < extra))

    def all_reduce(self, t: torch.Tensor) -> torch.Tensor:
        """Σ over ranks (float64 sums of float32 parts stay float32: reduced as given)."""
        out = t.detach().clone() if t.requires_grad else t.clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out


def world_from_env(device: torch.device) -> World | None:
    """The process group torchrun asks for (initialised once), or None for a single process."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return None
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend, timeout=TIMEOUT)
    return World(dist.get_rank(), dist.get_world_size(), backend)


def check_shardable(world: World, n: int) -> None:
    if n < world.size:
        raise InputError(
            f"{n} examples cannot be shared by {world.size} processes",
            "use fewer processes (--nproc-per-node) or more data",
        )
