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
