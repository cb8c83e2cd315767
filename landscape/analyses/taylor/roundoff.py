"""Round-off noise of the loss along a line: ECnoise (Moré & Wild 2011).

Difference tables of L at tiny equally spaced steps θ + i·h·d give the standard deviation of the
noise in L along d; taylor-check calls a residual "floor" below FLOOR_FACTOR times it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from torch import Tensor

if TYPE_CHECKING:
    from landscape.analyses.taylor.line import LineLoss


@dataclass(frozen=True)
class NoiseEstimate:
    sigma: float  # standard deviation of the noise in L along d
    method: str  # ecnoise | machine-epsilon
    spacing: float | None  # ECnoise step h


# -- round-off: ECnoise along d ---------------------------------------------------------------
def estimate_noise(line: LineLoss, d: Tensor, points: int = 8) -> NoiseEstimate:
    """Noise level of L along d by ECnoise (Moré & Wild 2011): difference tables of L at
    θ + i·h·d, i = 0..7; retried with h ×/÷ 10 when h is too small or too large."""
    h = line.eps ** (1 / 3)  # small: a kink inside the stencil would pass for noise
    for _ in range(5):
        values = [line.base] + [line.value(line.point(d, i * h)) for i in range(1, points)]
        sigma, verdict = ecnoise(np.array(values))
        if verdict == "ok":
            return NoiseEstimate(max(sigma, line.eps * abs(line.base)), "ecnoise", h)
        h = h * 10 if verdict == "h too small" else h / 10
    return NoiseEstimate(line.eps * max(abs(line.base), 1e-300), "machine-epsilon", None)


def ecnoise(values: np.ndarray) -> tuple[float, str]:
    """Moré & Wild's ECnoise on equally spaced values: (noise level, ok | h too small |
    h too large). Level k: sqrt(γ_k · mean((Δᵏf)²)), γ_k = (k!)²/(2k)!; accepted where three
    consecutive levels agree within a factor 4 and the k-th differences change sign."""
    top = max(abs(values.max()), abs(values.min()), 1e-300)
    if (values.max() - values.min()) / top > 0.1:
        return 0.0, "h too large"
    diffs, gamma = values.astype(np.float64), 1.0
    levels, signs = [], []
    for k in range(1, 7):
        diffs = np.diff(diffs)
        if k == 1 and np.count_nonzero(diffs == 0) >= len(values) / 2:
            return 0.0, "h too small"  # half the values are equal
        gamma *= 0.5 * k / (2 * k - 1)
        levels.append(math.sqrt(gamma * float(np.mean(diffs**2))))
        signs.append(diffs.min() * diffs.max() < 0)
        if len(diffs) < 2:
            break
    for k in range(len(levels) - 2):
        low, high = min(levels[k : k + 3]), max(levels[k : k + 3])
        if high <= 4 * low and signs[k]:
            return levels[k], "ok"
    return 0.0, "h too large"
