"""The critical-sharpness proxy (Kalra et al. 2026): the curvature a line search sees.

Definition used here: along d = −g (the gradient-descent step), φ(η) = L(θ + η d); η_c is the
step at which the loss first comes back to L(θ) from below, found by doubling from a first
guess η₀ until φ(η) > φ(0), then bisecting [η_lo, η_hi] with φ(η_lo) ≤ φ(0) < φ(η_hi), all in
at most MAX_LOSSES loss evaluations. The proxy is 2/η_c, reported as the bracket's midpoint
2/η with its half-width as the bound (2/η_hi ≤ 2/η_c ≤ 2/η_lo).

On a quadratic L = ½ θᵀHθ (g = Hθ), φ(η) − φ(0) = −η gᵀg + ½ η² gᵀHg vanishes at
η_c = 2 gᵀg / gᵀHg, so the proxy is gᵀHg / gᵀg: H's curvature along g, never above λ_max
(equal to it only when g is an eigenvector of the top eigenvalue).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

MAX_LOSSES = 9  # below the 10 forward passes of the method's paper


@dataclass(frozen=True)
class Proxy:
    value: float | None  # 2/η_c (bracket midpoint), None when no crossing was bracketed
    error_bound: float | None  # half the bracket, in 2/η
    losses: int  # loss evaluations used
    direction: str = "-g"


def critical_sharpness(problem, loss: float, grad: torch.Tensor, guess: float) -> Proxy:
    """2/η_c along −grad from θ = problem's parameters, starting the search at η₀ = `guess`."""
    theta = problem.flat_params()
    d = -grad.to(theta.dtype)
    if not float(d.norm()) > 0:
        return Proxy(None, None, 0)

    def rises(eta: float) -> bool:
        return problem.loss_at(theta + eta * d) > loss

    eta, used = max(guess, 1e-12), 0
    lo, hi = 0.0, None
    while used < MAX_LOSSES and hi is None:  # bracket: double (or halve) from the guess
        used += 1
        if rises(eta):
            hi = eta
        else:
            lo, eta = eta, eta * 2
    if hi is None:
        return Proxy(None, None, used)
    while used < MAX_LOSSES and lo == 0.0:  # the guess overshot: halve until it does not
        used += 1
        if rises(hi / 2):
            hi = hi / 2
        else:
            lo = hi / 2
    while used < MAX_LOSSES and lo > 0:
        used += 1
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if rises(mid) else (mid, hi)
    if lo == 0.0:
        return Proxy(2 / hi if math.isfinite(hi) else None, None, used)
    low, high = 2 / hi, 2 / lo
    return Proxy((low + high) / 2, (high - low) / 2, used)
