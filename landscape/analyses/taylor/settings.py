"""What taylor-check sweeps and the thresholds it judges by: settings, constants, step sizes."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from torch import Tensor

from landscape.errors import InputError
from landscape.estimators.basis import BasisBudget

REQUIRED_ORDER = {"r1": 1.9, "r2_hessian": 2.9}
FLOOR_FACTOR = 30.0  # a residual is measurable above FLOOR_FACTOR × the noise of ΔL
ORDER_DRIFT = 0.15  # a step leaves the window when its order strays this far (+ round-off)
EXACT_MARGIN = 1e4  # "exact to round-off" needs the lower residual this far above the noise
TRUST_SHARE = 0.01  # trust radius: R₂ᴴ ≤ 1% of |ΔL|
JUMP = 1.5  # an order this far above the expected one is a jump (kink, sign change)
DIRECTIONS = ("gradient", "top-eigenvector", "bottom-eigenvector", "random")
HALVING_FROM, HALVINGS = 1e-3, 12  # eps or steps alone: the other from these
FIT_STEPS = 4  # the verdict order: a least-squares slope over the window's lowest steps


@dataclass(frozen=True)
class TaylorSettings:
    """What to check (built from the options by `cli.settings`; no option defaults here)."""

    etas: list[float] | None  # None: chosen per direction (schedule.py)
    directions: list[str]
    seed: int
    direction_vector: Tensor | None = None  # a user's direction (direction_file), if any
    direction_label: str = "file"
    basis_budget: BasisBudget | None = None  # the eigenvector directions' Krylov basis


def thresholds() -> dict:
    """The thresholds as the report states them."""
    return dict(
        REQUIRED_ORDER,
        floor_factor=FLOOR_FACTOR,
        order_drift=ORDER_DRIFT,
        trust_share=TRUST_SHARE,
    )


def halving_steps(eps: float | None, steps: int | None) -> list[float]:
    """η = eps, eps/2, ..., eps/2^steps (eps 1e-3 and 12 halvings where one is not given)."""
    eps = HALVING_FROM if eps is None else float(eps)
    steps = HALVINGS if steps is None else int(steps)
    if not (math.isfinite(eps) and eps > 0):
        raise InputError(f"eps must be a positive step size, got {eps}", "use e.g. eps=1e-3", "eps")
    if not 0 <= steps <= 60:
        raise InputError(
            f"steps must be between 0 and 60, got {steps}", "use e.g. steps=12", "steps"
        )
    return [eps * 0.5**k for k in range(steps + 1)]


def parse_sweep(text: str) -> list[float]:
    """`A:B:N`: N log-spaced steps from A to B, largest first."""
    fix = "write sweep=MIN:MAX:N, e.g. sweep=1e-6:1e-1:13"
    parts = str(text).split(":")
    try:
        low, high, count = float(parts[0]), float(parts[1]), int(parts[2])
        if len(parts) != 3:
            raise ValueError
    except (ValueError, IndexError):
        raise InputError(f"cannot read `sweep` '{text}'", fix, "sweep") from None
    if not (0 < low < high and math.isfinite(high)) or count < 2 or count > 200:
        raise InputError(f"`sweep` '{text}' needs 0 < MIN < MAX and 2 ≤ N ≤ 200", fix, "sweep")
    return sorted(np.geomspace(low, high, count).tolist(), reverse=True)
