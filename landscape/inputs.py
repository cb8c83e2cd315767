"""Model inputs: one tensor, or a dict of tensors passed as keyword arguments (`model(**x)`),
every entry with the examples along its first dimension (Hugging Face's `input_ids`,
`attention_mask`, ...). These helpers treat both alike; outputs are taken from what the model
returns: a tensor, a tuple or list (its first element), or a dict / ModelOutput (its
`logits`, or the entry the user names)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from landscape.errors import InputError

Inputs = Tensor | dict[str, Tensor]


def num_examples(x: Inputs) -> int:
    if isinstance(x, Mapping):
        return len(next(iter(x.values())))
    return len(x)


def take(x: Inputs, index) -> Inputs:
    """The examples `index` (a slice or an index tensor) of every entry."""
    if isinstance(x, Mapping):
        return {k: v[index] for k, v in x.items()}
    return x[index]


def concat(parts: list[Inputs]) -> Inputs:
    if isinstance(parts[0], Mapping):
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
    return torch.cat(parts)


def cast(x: Inputs, dtype: torch.dtype, device: torch.device) -> Inputs:
    """Floating entries to `dtype`, every entry to `device` (token ids stay integers)."""
    if isinstance(x, Mapping):
        return {k: cast(v, dtype, device) for k, v in x.items()}
    return x.to(device=device, dtype=dtype) if x.is_floating_point() else x.to(device)


def describe(x: Inputs) -> str:
    if isinstance(x, Mapping):
        return "{" + ", ".join(f"{k}: {tuple(v.shape)}" for k, v in x.items()) + "}"
    return str(tuple(x.shape))


def select_output(out: Any, key: str | None) -> Tensor:
    """The outputs the loss is taken of: a tensor as it is, a tuple's first element, a
    mapping's (ModelOutput's) `key` entry, `logits` by default."""
    if isinstance(out, Tensor) and key is None:
        return out
    if isinstance(out, Mapping):
        name = key or "logits"
        if name not in out:
            shown = ", ".join(map(str, out.keys()))
            raise InputError(
                f"the model's {type(out).__name__} has no '{name}' entry (entries: {shown})",
                "choose one with `output`=NAME",
                "output",
            )
        return select_output(out[name], None)
    if isinstance(out, tuple | list) and out and key is None:
        return select_output(out[0], None)
    if key is not None:
        raise InputError(
            f"--output {key} names an entry, but the model returned a {type(out).__name__}",
            "leave out --output for models that return a tensor or a tuple",
        )
    raise InputError(
        f"the model returned {type(out).__name__}, not a tensor of outputs",
        "return a tensor, a tuple (outputs first) or a dict / ModelOutput with `logits`",
    )
