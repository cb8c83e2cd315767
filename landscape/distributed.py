"""Data-parallel runs under `torchrun`: each rank holds the model and a disjoint, contiguous
shard of the examples; every loss, gradient and curvature product is one `all_reduce` (a sum)
at `Problem.batch_sum`; everything else (the eigen-solver, trace, density) is replicated and
identical on all ranks (same seeds, same reduced numbers). Rank 0 alone prints and writes.

torchrun sets RANK, WORLD_SIZE and the rendezvous variables; without them a run is one
process and nothing here is used. gloo on the CPU, nccl on CUDA.

A rank that dies or hangs fails the run on every rank: a collective that fails (a peer's
connection closed) or waits longer than the process group's timeout (LANDSCAPE_DIST_TIMEOUT
seconds, default 180) becomes `ProcessLost`: one line on rank 0, exit 3. A rank that fails
with its own error leaves its line in torchrun's store (`tell_rank0`) and rank 0 prints it with
the rank (and its exit code); otherwise rank 0 names the ranks that left no key (each
survivor of a failed collective leaves one). torchrun stops the other ranks with SIGTERM,
which becomes `Stopped` (the same line) instead of a traceback.
"""

from __future__ import annotations

import os
import re
import signal
import time
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from landscape.errors import InputError, LandscapeError

TIMEOUT_VARIABLE = "LANDSCAPE_DIST_TIMEOUT"  # seconds; a rank that dies or hangs fails the run
TIMEOUT = timedelta(minutes=3)  # within this by default
MAX_TIMEOUT = 1e9  # seconds (31 years): beyond, the process group's clock would overflow
# Keys in torchrun's store (+ the rank): a survivor whose collective failed; a rank's own error.
FAILED_KEY, ERROR_KEY = "landscape/failed/", "landscape/error/"
GRACE = 2.0  # seconds rank 0 waits for the others' keys before naming the silent ranks


class ProcessLost(LandscapeError):
    """Another rank failed, died or hung (exit code 3, or the failed rank's own)."""

    def __init__(self, problem: str, fix: str = "", exit_code: int = 3):
        super().__init__(problem, fix)
        self.exit_code = exit_code


class Stopped(ProcessLost):
    """torchrun stopped this rank (SIGTERM) because another one ended with an error."""


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
        try:
            dist.all_reduce(out, op=dist.ReduceOp.SUM)
        except (RuntimeError, dist.DistError) as exc:  # gloo/nccl: a peer closed or timed out
            raise lost(self, exc) from None
        return out


def timeout() -> timedelta:
    """The process group's timeout: LANDSCAPE_DIST_TIMEOUT seconds, else 3 minutes."""
    value = os.environ.get(TIMEOUT_VARIABLE)
    if not value:
        return TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= MAX_TIMEOUT:
        raise InputError(
            f"{TIMEOUT_VARIABLE}={value!r} is not a positive, finite number of seconds (at most "
            f"{MAX_TIMEOUT:.0e})",
            f"set e.g. {TIMEOUT_VARIABLE}=600, or unset it for {int(TIMEOUT.total_seconds())} s",
        )
    return timedelta(seconds=seconds)


def env_count(name: str, default: int, least: int) -> int:
    """A whole number torchrun sets in the environment (WORLD_SIZE, RANK), checked."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value)
    except ValueError:
        number = least - 1
    if number < least:
        raise InputError(
            f"the environment variable {name}={value!r} is not a whole number ≥ {least}",
            f"unset {name}, or run under torchrun (which sets it)",
        )
    return number


def lost(world: World, exc: Exception) -> ProcessLost:
    """The one line for a failed collective: the rank that failed with its own error and that
    error, else the ranks that died or hung (those that left no key)."""
    store = _store()
    _mark(store, f"{FAILED_KEY}{world.rank}", "1")
    silent = _silent_ranks(store, world) if store is not None else []
    told = _told(store, world.size)
    if told is not None:
        return told
    text = _reason(exc)
    why = "timed out" if "timed out" in text.lower() else "failed"
    who = (
        f"rank {', '.join(map(str, silent))} of {world.size} died or hung"
        if silent
        else f"another of the {world.size} processes died or hung"
    )
    limit = int(timeout().total_seconds())
    return ProcessLost(
        f"the run across processes {why}: {who} (rank {world.rank}: {text})",
        f"see that rank's output or torchrun's summary; the processes wait {limit} s for each "
        f"other ({TIMEOUT_VARIABLE})",
    )


def tell_rank0(line: str, exit_code: int) -> None:
    """A rank other than 0 that fails with its own error leaves it for rank 0, which alone
    prints (the same line on every rank is printed once)."""
    if dist.is_initialized():
        _mark(_store(), f"{ERROR_KEY}{dist.get_rank()}", f"{exit_code} {line}")


def _told(store, size: int) -> ProcessLost | None:
    """The error line of the first rank that left one, as rank 0's error."""
    for rank in range(size):
        try:
            if store is not None and store.check([f"{ERROR_KEY}{rank}"]):
                code, _, line = store.get(f"{ERROR_KEY}{rank}").decode().partition(" ")
                return ProcessLost(f"rank {rank} of {size}: {line}", exit_code=int(code))
        except (RuntimeError, dist.DistError, ValueError):
            return None
    return None


def _reason(exc: Exception) -> str:
    """The library's message without its source location, to its first sentence."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = re.sub(r"^\[[^\]]*\]\s*", "", text)
    return text.split(". ")[0].rstrip(".")[:200]


def _store():
    try:
        return dist.distributed_c10d._get_default_store()
    except (RuntimeError, ValueError, AttributeError):
        return None


def _mark(store, key: str, value: str) -> None:
    try:
        if store is not None:
            store.set(key, value)
    except (RuntimeError, dist.DistError):  # torchrun's store is gone
        pass


def _silent_ranks(store, world: World) -> list[int]:
    """The ranks that left no key within GRACE seconds (rank 0 waits, others don't); when
    torchrun stops the wait (SIGTERM), those silent so far."""
    deadline = time.monotonic() + (GRACE if world.rank == 0 else 0.0)
    silent = list(range(world.size))
    try:
        while True:
            silent = [r for r in range(world.size) if not _has_key(store, r)]
            if not silent or time.monotonic() >= deadline:
                return silent
            time.sleep(0.05)
    except (Stopped, RuntimeError, dist.DistError):
        return silent


def _has_key(store, rank: int) -> bool:
    return store.check([f"{FAILED_KEY}{rank}"]) or store.check([f"{ERROR_KEY}{rank}"])


def _stop(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process
    told = _told(_store(), dist.get_world_size()) if dist.is_initialized() else None
    if told is not None:
        raise Stopped(told.problem, exit_code=told.exit_code)
    raise Stopped(
        "torchrun stopped this run because another of its processes ended with an error",
        "its summary names the rank (`Root Cause`)",
    )


def finish() -> None:
    """The end of a run: every rank waits for the others (an all-reduce, so a lost rank fails
    it in one line), then the process group closes (a rank that exits with it open can abort
    in gloo's threads while a peer still sends)."""
    if dist.is_initialized():
        world = World(dist.get_rank(), dist.get_world_size(), dist.get_backend())
        world.all_reduce(torch.zeros(1, device=_device(world.backend)))
        dist.destroy_process_group()


def _device(backend: str) -> torch.device:
    if backend == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def world_from_env(device: torch.device) -> World | None:
    """The process group torchrun asks for (initialised once), or None for a single process."""
    size = env_count("WORLD_SIZE", 1, 1)
    if size <= 1:
        return None
    rank = env_count("RANK", -1, 0)
    if not 0 <= rank < size:
        raise InputError(
            f"WORLD_SIZE={size} but RANK is {'not set' if rank < 0 else rank}: this is not one "
            "of the processes of a torchrun run",
            "run under torchrun (which sets both), or unset WORLD_SIZE for one process",
        )
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(env_count("LOCAL_RANK", 0, 0))
        limit = timeout()
        try:
            dist.init_process_group(backend, timeout=limit)
        except ValueError as exc:  # the rendezvous variables torchrun sets are missing
            raise InputError(
                f"cannot join the processes of a torchrun run ({_reason(exc)})",
                "run under torchrun (which sets MASTER_ADDR, MASTER_PORT, RANK and "
                "WORLD_SIZE), or unset WORLD_SIZE for one process",
            ) from None
        signal.signal(signal.SIGTERM, _stop)
    return World(dist.get_rank(), dist.get_world_size(), backend)


def check_shardable(world: World, n: int) -> None:
    if n < world.size:
        raise InputError(
            f"{n} examples cannot be shared by {world.size} processes",
            "use fewer processes (--nproc-per-node) or more data",
        )
