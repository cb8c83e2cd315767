"""The Krylov basis of the eigen-solver: where it lives, in which dtype, how many vectors.

The basis holds (vectors + 1) rows of p numbers, so its memory is (vectors + 1)·p·bytes: for a
100M-parameter model a float64 basis of 60 vectors is 48 GB. `plan_basis` places it within a
budget (`BasisBudget.memory`, else a quarter of the free memory), trying in turn

1. float64 on the operator's device (what small models always get),
2. float32 on that device: the stored vectors are rounded to float32, but every coefficient
   (projections, the projected matrix S, Ritz combinations) is a float64 sum over the stored
   vectors upcast a column block at a time. What float32 costs is the rounding of each new
   vector: the residual bounds stop near 3e-8·max|λ| (measured on the sample), while the
   eigenvalues, Rayleigh quotients of float64 Ritz vectors, keep float64's accuracy,
3. and, for an operator on a GPU (or when `BasisBudget.host` forces it), the same two on the
   host in pinned CPU memory: each product copies one vector to the device and its result back.

The first that holds the solver's minimum wins; none: an InputError naming the budget, the
minimum and the fix. Under torchrun each rank holds a copy: the default share of the host's
memory is split among the machine's ranks, and all ranks take the smallest room any has.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor

from landscape.curvature.memory import free_memory_bytes
from landscape.errors import InputError
from landscape.estimators.results import BasisInfo

# The default budget: up to MAX_BASIS vectors, at most BASIS_SHARE of the free memory.
MAX_BASIS = 300
BASIS_SHARE = 0.25
# A float32 basis is read into float64 in column blocks of at most this many bytes.
CHUNK_BYTES = 32 * 1024**2


@dataclass(frozen=True)
class BasisBudget:
    """What the basis may take: `memory` bytes (None: BASIS_SHARE of the free memory of the
    device it goes on); `host`: keep it in CPU memory whatever the operator's device."""

    memory: int | None = None
    host: bool = False


def minimum_vectors(p: int, wanted: int) -> int:
    """The fewest vectors a thick restart works with: it keeps the wanted Ritz pairs and two
    more (`_keep_indices`) and must grow the space by as many again before it restarts."""
    return min(p, 2 * (wanted + 2))


def plan_basis(p: int, wanted: int, device, budget: BasisBudget | None = None) -> BasisInfo:
    """Where the basis goes, its dtype and size (see the module's docstring)."""
    budget = budget or BasisBudget()
    device = torch.device(device)
    places = [torch.device("cpu")] if budget.host else [device]
    if device.type == "cuda" and not budget.host:
        places.append(torch.device("cpu"))
    need = minimum_vectors(p, wanted)
    for place in places:
        free = free_memory_bytes(place)
        if budget.memory is None:
            room = int(BASIS_SHARE * free / _sharing(place))
        else:
            room = min(budget.memory, free)
        room = _agreed(room, device)
        for dtype in (torch.float64, torch.float32):
            size = _element(dtype) * p
            vectors = min(MAX_BASIS, p, room // size - 1)
            if vectors >= need:
                pinned = place.type == "cpu" and device.type == "cuda"
                return BasisInfo(
                    device=str(place),
                    dtype=str(dtype).replace("torch.", ""),
                    vectors=int(vectors),
                    bytes=int((vectors + 1) * size),
                    budget=int(room),
                    pinned=pinned,
                )
    raise _too_small(p, wanted, need, budget, free)


def _sharing(place: torch.device) -> int:
    """The processes of this machine that each hold a basis in `place`'s memory: torchrun's
    local ranks share the host (each uses a GPU of its own)."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", "1")) if place.type == "cpu" else 1


def _agreed(room: int, device: torch.device) -> int:
    """Under torchrun the solver is replicated, so every rank must grow the same basis: the
    smallest room of all ranks (one all_reduce)."""
    if not (dist.is_available() and dist.is_initialized()):
        return room
    on = device if dist.get_backend() == "nccl" else torch.device("cpu")
    least = torch.tensor([room], dtype=torch.int64, device=on)
    dist.all_reduce(least, op=dist.ReduceOp.MIN)
    return int(least.item())


def _element(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


def _too_small(p: int, wanted: int, need: int, budget: BasisBudget, free: int) -> InputError:
    least = (need + 1) * p * _element(torch.float32)
    if budget.memory is not None:
        where = f"the basis budget {format_bytes(budget.memory)}"
        if budget.memory > free:
            where += f" (of which {format_bytes(free)} is free)"
    else:
        where = f"{BASIS_SHARE:.0%} of the free memory"
    return BasisTooSmall(
        f"{where} is too small for the eigen-solver's Krylov basis: {wanted} eigenvalues need "
        f"at least {need} vectors of {p:,} parameters ({format_bytes(least, up=True)} in "
        "float32)",
        f"give the basis {format_bytes(least, up=True)} or more, or ask for fewer eigenvalues",
        least,
    )


class BasisTooSmall(InputError):
    """No basis of the solver's minimum fits: `least` bytes would (a float32 one)."""

    def __init__(self, problem: str, fix: str, least: int):
        super().__init__(problem, fix, "basis_memory")
        self.least = least

    def naming(self, option: str, counts: str) -> InputError:
        """The same error with the fix in a command's own flags."""
        return InputError(
            self.problem,
            f"give {option} {format_bytes(self.least, up=True)} or more, or ask for fewer "
            f"eigenvalues ({counts})",
        )


UNITS = (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3))


def format_bytes(n: int, up: bool = False) -> str:
    """1234567890 → '1.23GB' (decimal units, as the budget option reads them); `up` rounds
    up (to two decimals), so the figure is enough."""
    for unit, scale in UNITS:
        if n >= 0.9995 * scale:  # 999,999 is '1MB', not '1e+03kB'
            value = math.ceil(n / scale * 100) / 100 if up else n / scale
            return f"{value:g}{unit}" if up else f"{value:.3g}{unit}"
    return f"{n}B"


class Basis:
    """Orthonormal rows V and the projected matrix S = VᵀAV (A V = V S + f eᵀ), as planned.

    A float64 basis is used as it is; a float32 one is read into float64 a column block at a
    time, so every coefficient is a float64 sum over the stored vectors."""

    def __init__(self, p: int, info: BasisInfo):
        self.info = info
        self.device = torch.device(info.device)
        self.dtype = getattr(torch, info.dtype)
        # rows are the basis vectors: each one contiguous; empty, not zeros: pages are only
        # touched as the basis grows
        self.V = torch.empty(
            info.vectors + 1, p, dtype=self.dtype, device=self.device, pin_memory=info.pinned
        )
        self.S = torch.zeros(info.vectors + 1, info.vectors + 1, dtype=torch.float64)  # CPU
        self.m = 0  # rows in use
        self.exact = self.dtype == torch.float64
        self._chunk = 0

    @property
    def size(self) -> int:
        return self.info.vectors

    def _blocks(self, rows: int):
        """Column slices whose float64 copy of `rows` rows stays within CHUNK_BYTES."""
        width = max(1, CHUNK_BYTES // (8 * max(rows, 1)))
        p = self.V.shape[1]
        return (slice(a, min(a + width, p)) for a in range(0, p, width))

    def dot(self, rows: slice, w: Tensor) -> Tensor:
        """V[rows] @ w in float64 (w: float64 (p,) or (p, c) on the basis device)."""
        if self.exact:
            return self.V[rows] @ w
        V = self.V[rows]
        h = torch.zeros(V.shape[0], *w.shape[1:], dtype=torch.float64, device=self.device)
        for c in self._blocks(V.shape[0]):
            h += V[:, c].double() @ w[c]
        return h

    def combine(self, Y: Tensor, rows: int) -> Tensor:
        """V[:rows]ᵀ Y: float64 (p, c) on the basis device (Y: float64 (rows, c))."""
        Y = Y.to(device=self.device, dtype=torch.float64)
        if self.exact:
            return (Y.T @ self.V[:rows]).T
        V = self.V[:rows]
        out = torch.empty(V.shape[1], Y.shape[1], dtype=torch.float64, device=self.device)
        for c in self._blocks(rows):
            out[c] = V[:, c].double().T @ Y
        return out

    def subtract(self, w: Tensor, rows: slice, h: Tensor) -> Tensor:
        """w ← w − V[rows]ᵀ h in place (float64 w of shape (p,)): no new p-sized tensor, whose
        allocation costs more than the arithmetic at this size."""
        V = self.V[rows]
        if self.exact:
            return w.addmv_(V.T, h, alpha=-1)
        for c in self._blocks(V.shape[0]):
            w[c].addmv_(V[:, c].double().T, h, alpha=-1)
        return w

    def replace_leading(self, Y: Tensor) -> None:
        """V[:r] ← (V[:m]ᵀ Y)ᵀ for Y of shape (m, r), r ≤ m: the thick restart's Ritz vectors."""
        r = Y.shape[1]
        Y = Y.to(device=self.device, dtype=torch.float64)
        if self.exact:
            self.V[:r] = Y.T @ self.V[: self.m]
            return
        for c in self._blocks(self.m):
            self.V[:r, c] = Y.T @ self.V[: self.m, c].double()  # read before written

    def gram(self, rows: int) -> Tensor:
        """V[:rows] V[:rows]ᵀ in float64, on the CPU."""
        if self.exact:
            return (self.V[:rows] @ self.V[:rows].T).cpu()
        G = torch.zeros(rows, rows, dtype=torch.float64, device=self.device)
        for c in self._blocks(rows):
            block = self.V[:rows, c].double()
            G += block @ block.T
        return G.cpu()

    def transform_leading(self, M: Tensor) -> None:
        """V[:r] ← M V[:r] for a (r, r) matrix M."""
        r = M.shape[0]
        M = M.to(device=self.device, dtype=torch.float64)
        if self.exact:
            self.V[:r] = M @ self.V[:r]
            return
        for c in self._blocks(r):
            self.V[:r, c] = M @ self.V[:r, c].double()

    def orthogonalize(
        self, w: Tensor, upto: int, full: bool = True
    ) -> tuple[Tensor, Tensor, float]:
        """w minus its projection on the first `upto` basis vectors, the coefficients (float64
        on the basis device) and the norm of what is left; a float64 w is changed in place.

        The three-term recurrence's own two vectors go first (cheap, and they hold most of
        w); with `full`, a pass over the whole basis follows. Each pass is repeated only when
        it cancelled much of w (Daniel-Gragg-Kaufman-Stewart: twice is enough), so
        orthogonality holds to working precision at about half the cost of always
        orthogonalising twice."""
        w = w.to(device=self.device, dtype=torch.float64)
        h = torch.zeros(upto, dtype=torch.float64, device=self.device)
        norm = self._pass(w, h, slice(max(upto - 2, 0), upto), float(w.norm()))
        if full:
            norm = self.reorthogonalize(w, h, upto, norm)
        return w, h, norm

    def reorthogonalize(self, w: Tensor, h: Tensor, upto: int, norm: float) -> float:
        """The pass over the whole basis alone (w already orthogonal to the last two rows,
        its coefficients so far in h, both changed in place); the norm of what is left."""
        return self._pass(w, h, slice(0, upto), norm)

    def _pass(self, w: Tensor, h: Tensor, rows: slice, norm: float) -> float:
        for _ in range(2):
            before = norm
            h_pass = self.dot(rows, w)
            self.subtract(w, rows, h_pass)
            h[rows] += h_pass
            norm = float(w.norm())
            if norm > 0.5 * before:
                break
        return norm
