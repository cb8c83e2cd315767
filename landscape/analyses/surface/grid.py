"""Many losses at once: L(θ + Σ_k c_mk·d_k) at M points, every one through `Problem.batch_sum`.

Points go in groups: each group is one pass over the data and one reduction (one all-reduce
under torchrun), each rank evaluating its own shard. Within a group the points are either
stacked (`vmap`: torch.func.vmap over stacked parameter sets, several points per forward
pass) or taken one after another (`loop`). `auto` measures: the first point alone, then
stacked groups of 2, 4, 8, ... while the time per point keeps falling and the memory allows;
the faster route goes on. A model whose forward vmap cannot run (`.item()`, data-dependent
control flow) falls back to the loop silently. Under torchrun the ranks add their timings
(one reduction) so that every rank takes the same route.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from landscape.curvature.memory import free_memory_bytes, saved_bytes
from landscape.problem import Problem

MAX_GROUP = 64  # points per pass at most
LOOP_GROUP = 8  # points per pass over the data (one reduction) in the loop
MEMORY_SHARE = 0.25  # the stacked activations may take this share of the free memory
GAIN = 0.9  # a larger group is kept when its time per point is below this share of the last
WASTE = 0.01  # probing groups slower than the loop may cost this share of the points at most
CLOSE = 1.25  # a losing group size is doubled only while within this factor of the loop


@dataclass(frozen=True)
class Evaluation:
    """How the points were evaluated (`losses` is not serialised)."""

    mode: str  # "vmap" | "loop"
    points: int
    points_per_pass: int  # the largest group stacked into one forward pass (1 for the loop)
    reductions: int  # passes over the data, each one reduction
    seconds: float
    note: str
    losses: Tensor | None = field(default=None, repr=False)


class Points:
    """θ + C·D for rows of the coordinates C (M, k): stacked parameter tensors (m, *shape)."""

    def __init__(self, base: list[Tensor], directions: list[list[Tensor]], coords: Tensor):
        self.base = base
        self.stacked = [torch.stack([d[i] for d in directions]) for i in range(len(base))]
        self.coords = coords.to(dtype=base[0].dtype, device=base[0].device)

    def __len__(self) -> int:
        return len(self.coords)

    def group(self, rows: slice) -> list[Tensor]:
        c = self.coords[rows]
        return [b + torch.tensordot(c, d, dims=1) for b, d in zip(self.base, self.stacked)]


def vmap_losses(problem: Problem, params: list[Tensor]) -> Tensor:
    """The losses of m stacked parameter sets (m, *shape): one pass, one reduction."""

    def part(batch):
        return torch.func.vmap(lambda *ps: problem.batch_loss(list(ps), batch))(*params)

    with torch.no_grad():
        return problem.batch_sum(part)


def loop_losses(problem: Problem, params: list[Tensor]) -> Tensor:
    """The same, one point after another inside each batch: one pass, one reduction."""
    m = params[0].shape[0]

    def part(batch):
        return torch.stack([problem.batch_loss([p[j] for p in params], batch) for j in range(m)])

    with torch.no_grad():
        return problem.batch_sum(part)


def point_losses(
    problem: Problem,
    base: list[Tensor],
    directions: list[list[Tensor]],
    coords: Tensor,
    *,
    mode: str = "auto",
    progress: Callable[[int], None] | None = None,
) -> Evaluation:
    """L at θ = base + Σ_k coords[m, k]·directions[k] for every row m (float64 losses)."""
    start = time.perf_counter()
    points = Points(base, directions, coords)
    run = _Run(problem, points, progress or (lambda n: None))
    if mode == "loop":
        note = "asked for"
        run.loop_rest()
    elif mode == "vmap":
        cap = min(len(points), group_cap(problem))
        note = "asked for"
        if cap < 2:
            note = "memory allows one point per pass"
            run.loop_rest()
        elif run.try_vmap(cap) is None:
            note = "vmap cannot run this model"
            run.loop_rest()
        else:
            run.vmap_rest(cap)
    else:
        note = run.auto()
    losses = torch.cat(run.done).double().cpu()
    return Evaluation(
        run.mode,
        len(points),
        run.widest,
        run.reductions,
        time.perf_counter() - start,
        note,
        losses,
    )


def group_cap(problem: Problem) -> int:
    """How many stacked points fit: the share of free memory over one point's activations
    (the tensors a forward pass with graph saves on the largest batch: an upper bound).
    Under torchrun the smallest cap of the ranks (their free memory differs)."""
    probe = problem.probe_batch()
    per_point = saved_bytes(problem.batch_loss, problem.leaves(), probe)
    per_point += sum(p.numel() * p.element_size() for p in problem.params)
    free = MEMORY_SHARE * free_memory_bytes(problem.device)
    cap = max(1, min(MAX_GROUP, int(free // max(per_point, 1))))
    if problem.reduce is None:
        return cap
    fits = [1.0 if cap >= k else 0.0 for k in range(1, MAX_GROUP + 1)] + [1.0]
    total = problem.reduce(torch.tensor(fits, dtype=torch.float64, device=problem.device)).cpu()
    return int((total[:-1] == total[-1]).sum())  # sizes every rank fits (the last: the ranks)


class _Run:
    """The evaluation in progress: groups done so far and the route taken."""

    def __init__(self, problem: Problem, points: Points, tell: Callable[[int], None]):
        self.problem, self.points, self.tell = problem, points, tell
        self.done: list[Tensor] = []
        self.next, self.reductions, self.widest, self.mode = 0, 0, 1, "loop"
        # on the CPU the process's own time (a shared machine's load does not change it)
        self.clock = time.perf_counter if problem.device.type == "cuda" else time.process_time

    def _group(self, size: int, fn) -> float:
        """Evaluate the next `size` points with `fn`; the seconds per point."""
        rows = slice(self.next, min(self.next + size, len(self.points)))
        t = self.clock()
        values = fn(self.problem, self.points.group(rows)).reshape(-1).cpu()
        seconds = (self.clock() - t) / len(values)
        self.done.append(values)
        self.next, self.reductions = rows.stop, self.reductions + 1
        self.tell(self.next)
        return seconds

    def left(self) -> int:
        return len(self.points) - self.next

    def try_vmap(self, size: int) -> float | None:
        """Seconds per point of a stacked group, or None (nothing done) when vmap fails."""
        try:
            seconds = self._group(size, vmap_losses)
        except Exception:  # vmap cannot run this forward: the loop will
            return None
        self.mode, self.widest = "vmap", max(self.widest, size)
        return seconds

    def loop_rest(self) -> None:
        self.mode, self.widest = "loop", 1
        while self.left():
            self._group(LOOP_GROUP, loop_losses)

    def vmap_rest(self, size: int) -> None:
        while self.left():
            self._group(size, vmap_losses)

    def auto(self) -> str:
        """Two points one at a time, then stacked groups of 2, 4, 8, ... while the time per
        point falls, or while a slower group is within CLOSE of the loop and what the slower
        groups cost stays within WASTE of the points
        (the memory cap is measured only past 4 points); the fastest route goes on. Under
        torchrun the times are the ranks' sums, so every rank decides the same."""
        single = self._timed(2, loop_losses)
        if not self.left():
            return "two points"
        try:
            stacked = self._timed(min(2, self.left()), vmap_losses)
        except Exception:  # vmap cannot run this forward: the loop will
            self.loop_rest()
            return "vmap cannot run this model"
        self.mode = "vmap"
        budget, cap = WASTE * len(self.points), None
        best_size, best, size, last = 2, stacked, 2, stacked
        waste = 2 * max(0.0, stacked / single - 1)
        while self.left():
            losing = last >= GAIN * single
            if losing and (
                last > CLOSE * single or waste + 2 * size * (last / single - 1) > budget
            ):
                break  # stacking loses clearly, or a larger group would cost more than allowed
            if size * 2 > 4:
                cap = cap or min(len(self.points), group_cap(self.problem))
                if size * 2 > cap:
                    break
            size *= 2
            seconds = self._timed(min(size, self.left()), vmap_losses)
            waste += size * max(0.0, seconds / single - 1)
            if seconds < best:
                best_size, best = size, seconds
            last = seconds
        if best >= single:
            self.loop_rest()
            return "measured: stacking was slower"
        self.widest = best_size
        self.vmap_rest(best_size)
        return "measured: faster than one point at a time"

    def _timed(self, size: int, fn) -> float:
        """A group's seconds per point; under torchrun the sum over the ranks."""
        seconds = self._group(size, fn)
        if self.problem.reduce is None:
            return seconds
        t = torch.tensor([seconds], dtype=torch.float64, device=self.problem.device)
        return float(self.problem.reduce(t))
