"""Small formatting helpers shared by the renderers."""

from __future__ import annotations

import math


def num(value: float | None, digits: int = 6) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}g}"


def pm(value: float, bound: float | None) -> str:
    """`value ± bound` with the bound in two significant digits."""
    if bound is None:
        return num(value)
    return f"{num(value, 10)} ± {bound:.2g}"


def mark(ok: bool) -> str:
    return "[green]yes[/]" if ok else "[red]no[/]"


def loss_phrase(r, name: str = "") -> str:
    """`the mean 1024-example loss`, or over the counted targets of a sequence loss."""
    kind = f"{name} loss" if name else "loss"
    if r.num_targets == r.num_samples:
        return f"the mean {r.num_samples}-example {kind}"
    return f"the mean {kind} over {r.num_targets} targets of {r.num_samples} examples"


def theta_phrase(r) -> str:
    """θ's size: `3300 parameters (6 tensors)`."""
    return f"{r.num_params} parameters ({r.num_tensors} tensors)"
