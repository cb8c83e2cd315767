"""The values of a checkpoint's optimizer state, checked before any figure is made of them.

A learning rate ≤ 0, a β outside [0, 1), a negative ε, text where a number goes, a NaN or
negative second moment: the stability figures made of them (2/η, (2 + 2β₁)/((1 − β₁)η),
D^-1/2 H D^-1/2) would be divisions by zero, negative thresholds or NaN, printed as answers.
Keys an optimizer does not have are not asked for; only those present are checked.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from landscape.errors import InputError

FIX = "fix the optimizer state saved in the checkpoint (or save it again from the optimizer)"


def _positive(x: float) -> bool:
    return x > 0


def _fraction(x: float) -> bool:
    return 0 <= x < 1


def _not_negative(x: float) -> bool:
    return x >= 0


# param_groups entries: the condition and the range in words
GROUP_KEYS: dict[str, tuple[Callable[[float], bool], str]] = {
    "lr": (_positive, "> 0"),
    "eps": (_not_negative, "≥ 0"),
    "momentum": (_fraction, "in [0, 1)"),
    "dampening": (_fraction, "in [0, 1)"),
    "weight_decay": (_not_negative, "≥ 0"),
}
MOMENT_KEYS = ("exp_avg_sq", "max_exp_avg_sq")  # Adam's second moments: finite and ≥ 0


def check_optimizer_state(optimizer: dict | None) -> dict | None:
    """The optimizer state dict as given, once every value the analyses read is in range."""
    if optimizer is None:
        return None
    groups = optimizer.get("param_groups")
    if not isinstance(groups, list | tuple):
        raise InputError("the checkpoint's optimizer state has no list of param_groups", FIX)
    for i, group in enumerate(groups):
        if not isinstance(group, dict):
            raise InputError(f"param_groups[{i}] of the optimizer state is not a table", FIX)
        _check_group(group, f"param_groups[{i}]")
    state = optimizer.get("state")
    if not isinstance(state, dict):
        raise InputError("the checkpoint's optimizer state has no 'state' table", FIX)
    for index, entry in state.items():
        if isinstance(entry, dict):
            _check_entry(entry, f"state[{index}]")
    return optimizer


def _check_group(group: dict, where: str) -> None:
    for key, (ok, words) in GROUP_KEYS.items():
        if key in group and group[key] is not None:
            value = _number(group[key], f"{where}.{key}")
            if not (math.isfinite(value) and ok(value)):
                raise _out_of_range(f"{where}.{key}", group[key], words)
    if group.get("betas") is not None:
        betas = group["betas"]
        if isinstance(betas, str) or not isinstance(betas, list | tuple) or len(betas) != 2:
            raise InputError(
                f"{where}.betas of the optimizer state is {_shown(betas)}, not two numbers", FIX
            )
        for j, beta in enumerate(betas):
            value = _number(beta, f"{where}.betas[{j}]")
            if not (math.isfinite(value) and _fraction(value)):
                raise _out_of_range(f"{where}.betas[{j}]", beta, "in [0, 1)")


def _check_entry(entry: dict, where: str) -> None:
    if "step" in entry:
        step = _number(entry["step"], f"{where}.step")
        if not (math.isfinite(step) and step >= 0):
            raise _out_of_range(f"{where}.step", entry["step"], "a count ≥ 0")
    for key in MOMENT_KEYS:
        v = entry.get(key)
        if v is None:
            continue
        if not isinstance(v, Tensor) or not (v.is_floating_point() or v.numel() == 0):
            raise InputError(
                f"{where}.{key} of the optimizer state is {_shown(v)}, not a tensor", FIX
            )
        if not bool(torch.isfinite(v).all()) or bool((v < 0).any()):
            raise InputError(
                f"{where}.{key} of the optimizer state holds NaN, inf or negative values (a "
                "second moment is an average of squares: finite and ≥ 0)",
                FIX,
            )


def _number(value, where: str) -> float:
    if isinstance(value, Tensor) and value.numel() == 1 and not value.is_complex():
        return float(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise InputError(f"{where} of the optimizer state is {_shown(value)}, not a number", FIX)


def _out_of_range(where: str, value, words: str) -> InputError:
    return InputError(
        f"{where} of the optimizer state is {_shown(value)}; it must be {words} and finite", FIX
    )


def _shown(value) -> str:
    if isinstance(value, Tensor):
        return f"a tensor {tuple(value.shape)}" if value.numel() != 1 else f"{float(value):g}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
