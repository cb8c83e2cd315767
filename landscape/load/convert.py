"""Data as tensors: an item, batch or file's content -> validated (x, y) on the CPU.

The one conversion every route goes through (files, (x, y) pairs, Dataset items and
DataLoader batches, held or streamed), so they all hold the same numbers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from landscape.errors import InputError
from landscape.inputs import Inputs

DATA_FIX = "save {'x': x, 'y': y} with torch.save, or x and y arrays with numpy.savez"


def pair(item: Any, origin: str, what: str, target: str | None) -> tuple[Any, Any]:
    """(x, y) from an (x, y) pair, an {"x", "y"} dict, or a flat dict with its `target` entry
    as y and the other entries as the inputs (keyword arguments of the model). `what` words
    the item in messages: "holds a", "returned a", "yields an item", "yields a batch"."""
    if type(item) is tuple and len(item) == 2:  # the common case first: a stream's every item
        return item
    if isinstance(item, Mapping):
        if target is not None and target in item:
            return {str(k): v for k, v in item.items() if k != target}, item[target]
        if target is None and "x" in item and "y" in item:
            return item["x"], item["y"]
        keys = ", ".join(map(str, list(item)[:8])) or "none"
        if target is None:
            raise InputError(
                f"{origin} has no 'x' and 'y' keys (keys: {keys})",
                f"{DATA_FIX}, or name the target entry of a flat dict with `target`=KEY",
                "target",
            )
        raise InputError(
            f"{origin} has no '{target}' key (keys: {keys})", "check `target`", "target"
        )
    if isinstance(item, tuple | list) and len(item) == 2:
        return item[0], item[1]
    raise InputError(
        f"{origin} {what} {type(item).__name__}, not an (x, y) pair",
        "give a pair (x, y), an {'x': x, 'y': y} dict, or a dict of inputs with `target`=KEY",
        "target",
    )


def at_least_1d(x: Inputs) -> Inputs:
    if isinstance(x, Mapping):
        return {k: at_least_1d(v) for k, v in x.items()}
    return x.reshape(1) if x.ndim == 0 else x


def stack(parts: list, origin: str, name: str, op: Any) -> Inputs:
    if isinstance(parts[0], Mapping):
        return {k: stack([p[k] for p in parts], origin, f"{name}[{k!r}]", op) for k in parts[0]}
    try:
        return op(parts)
    except RuntimeError as exc:
        raise InputError(
            f"the {name} values from {origin} do not stack into one tensor "
            f"({str(exc).splitlines()[0][:120]})",
            "make every example the same shape",
        ) from exc


# ---------------------------------------------------------------- checks


def tensor(value: Any, origin: str, name: str) -> Tensor:
    if isinstance(value, Tensor):
        return value.detach().cpu()
    try:
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                raise TypeError("object arrays are not supported")
            return torch.from_numpy(np.ascontiguousarray(value))
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InputError(
            f"{name} from {origin} is a {type(value).__name__} that does not convert to a tensor "
            f"({exc})",
            "use tensors or numeric arrays",
        ) from exc


def inputs(x: Any, origin: str) -> Inputs:
    """x as a tensor, or a dict of tensors (keyword inputs)."""
    if isinstance(x, Mapping):
        if not x:
            raise InputError(f"x from {origin} is an empty dict", "give the model's inputs")
        return {str(k): tensor(v, origin, f"x[{k!r}]") for k, v in x.items()}
    return tensor(x, origin, "x")


def validate(x: Any, y: Any, origin: str, finite: bool = True) -> tuple[Inputs, Tensor]:
    """x and y as tensors with one row per example, checked (with `finite`: for NaN and inf
    too, which a stream does on its first pass only)."""
    x = inputs(x, origin)
    y = tensor(y, origin, "y")
    entries = x.items() if isinstance(x, Mapping) else [("x", x)]
    if any(t.ndim == 0 for _, t in entries) or y.ndim == 0:
        raise InputError(
            f"data from {origin} has a scalar {'y' if y.ndim == 0 else 'x'}",
            "give one row per example (the first dimension indexes examples)",
        )
    if y.shape[0] == 0 or any(t.shape[0] == 0 for _, t in entries):
        raise InputError(f"data from {origin} is empty (0 examples)", "pass a non-empty data set")
    for name, t in entries:
        if t.shape[0] != y.shape[0]:
            raise InputError(
                f"data from {origin} has {t.shape[0]} inputs"
                + (f" in x[{name!r}]" if isinstance(x, Mapping) else "")
                + f" but {y.shape[0]} targets",
                "give x and y the same number of examples",
            )
        if t.dtype == torch.bool or t.is_complex():
            raise InputError(
                f"{name} from {origin} has dtype {t.dtype}", "use float or integer inputs"
            )
    if y.is_complex():
        raise InputError(f"y from {origin} has dtype {y.dtype}", "use integer or float targets")
    if not y.is_floating_point():
        y = y.long()  # integer (or bool) labels
    for name, t in [*entries, ("y", y)] if finite else []:
        if t.is_floating_point():
            bad = (~torch.isfinite(t)).sum().item()
            if bad:
                raise InputError(
                    f"{name} from {origin} has {bad} non-finite values (NaN or inf)",
                    "clean or impute the data",
                )
    return x, y


def sample_index(n: int, samples: int, seed: int, origin: str) -> Tensor:
    """`samples` of n positions, drawn with `seed`, in increasing order."""
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise InputError(
            f"`samples` must be a positive integer, got {samples!r}", "pass N >= 1", "samples"
        )
    if samples > n:
        raise InputError(
            f"`samples`={samples} is more than the {n} examples in data from {origin}",
            f"pass `samples`={n} or fewer (or leave it out to use all)",
            "samples",
        )
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randperm(n, generator=generator)[:samples].sort().values
