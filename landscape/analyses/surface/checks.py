"""What a surface or an interpolation must be to mean something: a range whose squares are
finite, a grid that fits the memory, directions that span what was asked, and a loss that is a
number at every point (after the cast to the run's dtype)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from landscape.curvature.memory import free_memory_bytes
from landscape.errors import InputError, NumericalError

BYTES_PER_POINT = 256  # a point's coordinates, loss, quadratic model and their report entries
PARALLEL = 1e-6  # |cos| within this of 1: two directions span a line, not a plane


def check_range(lo: float, hi: float, what: str) -> None:
    """The interval's width and the squares of its ends (the quadratic models' terms) are
    finite: beyond ~1e154 they overflow and every figure of the report would be inf or NaN."""
    ends = max(abs(lo), abs(hi))
    if not (math.isfinite(hi - lo) and math.isfinite(ends * ends)):
        raise InputError(
            f"the {what} [{lo:g}, {hi:g}] overflows (its width or the square of its ends is "
            "beyond the float range)",
            "give a range within about ±1e150",
        )


def check_points(count: int, what: str) -> None:
    """The points of a grid (their coordinates, losses and report entries) fit the memory."""
    need = count * BYTES_PER_POINT
    free = free_memory_bytes(torch.device("cpu"))
    if need > free:
        raise InputError(
            f"{what} asks for {count:,} points, about {need / 1e9:.3g} GB, more than the "
            f"{free / 1e9:.3g} GB of memory free",
            "ask for fewer points",
        )


def check_directions(directions, dims: int, named_files: int) -> None:
    """As many directions as dimensions, each finite and non-zero, and two not parallel."""
    if named_files and len(directions) < dims:
        raise InputError(
            f"the same direction file is named twice: {len(directions)} distinct file(s) for "
            f"{dims} directions",
            "give two different direction files (or one file with a line, dims 1)",
        )
    flats = []
    for d in directions:
        flat = d.flat.double()
        norm = float(flat.norm())
        if not (math.isfinite(norm) and norm > 0):
            raise InputError(
                f"the direction {d.label} is {'zero' if norm == 0 else 'not finite'} after its "
                "scaling in the run's dtype",
                "give a direction with finite, not all zero, values",
            )
        flats.append(flat / norm)
    if len(flats) == 2 and abs(float(flats[0] @ flats[1])) >= 1 - PARALLEL:
        raise InputError(
            f"the directions {directions[0].label} and {directions[1].label} are parallel: "
            "they span a line, not a plane",
            "give two directions that are not multiples of each other",
        )


def check_values(values: Tensor, coords: Tensor, what: str, where: str) -> None:
    """Every value of `what` at the points (rows of coords) is a number: an overflow (a range
    too wide for the model or the dtype) would print inf or NaN as an answer. `where` names a
    point from its coordinates: "α = {}"."""
    bad = ~torch.isfinite(values.reshape(-1))
    if bool(bad.any()):
        i = int(bad.nonzero()[0])
        point = ", ".join(f"{float(c):.6g}" for c in coords.reshape(len(bad), -1)[i])
        raise NumericalError(
            f"the {what} is {float(values.reshape(-1)[i])} at {where.format(point)} "
            f"({int(bad.sum())} of {len(bad)} points are not finite)",
            "narrow the range, or use a wider dtype (float64)",
        )


def check_end(tensors: list[Tensor], buffers: dict[str, Tensor], path: str, dtype) -> None:
    """The second checkpoint's θ and buffers are finite in the run's dtype."""
    bad = [i for i, t in enumerate(tensors) if not bool(torch.isfinite(t).all())]
    bad_buffers = [n for n, t in buffers.items() if not bool(torch.isfinite(t).all())]
    if bad or bad_buffers:
        name = str(dtype).replace("torch.", "")
        raise InputError(
            f"checkpoint '{path}' holds NaN or inf values in {name} "
            f"({len(bad)} parameter tensor(s), {len(bad_buffers)} buffer(s))",
            "check the checkpoint (values beyond the dtype's range, e.g. > 3.4e38 in float32, "
            "become inf: a wider dtype keeps them)",
        )
