"""When the Lanczos basis needs a full reorthogonalisation: Simon's ω-recurrence (1984).

Orthogonalising each new vector against the whole basis reads all of it twice per product:
at p = 1.78M parameters and 200 vectors that is 5.7 GB of memory traffic, eight times the
cost of the product. The three-term recurrence only needs each new vector orthogonal to the
last two. Its loss of orthogonality to the older ones grows by a recurrence of its own,
driven by round-off, which the projected matrix S alone lets us follow at O(m²) flops:

    β_j ω_{j+1,k} = (S Ω − Ω S)_{k,j} ± ε_step‖A‖      (ω_{ik} ≈ v_iᵀ v_k, Ω their matrix)

While every |ω| stays below δ (semi-orthogonality), the Ritz values of S are those of an
orthonormal basis of the same space to O(ε‖A‖). When an estimate crosses δ, the new vector
is orthogonalised against the whole basis, and so is the next one (a lost direction comes
back through two consecutive vectors); their estimates fall back to round-off.

- ε_step, the round-off each step adds to each older vector, is the stored basis's own unit
  round-off plus the products' spread over p coordinates, NOISE·ε_products/√p (measured on
  a float32 transformer layer: 2-20 ε/√p; the estimates stay 3-5× above the measured
  orthogonality, tests/test_orthogonality.py).
- δ = min(√ε, DELTA·tol): √ε is Simon's semi-orthogonality; the far coefficients a full
  pass removes (size δ·β) enter S, so they must stay well below the residuals asked for.
- A thick restart from a semi-orthogonal basis carries its δ-level errors into the kept Ritz
  vectors' relation A y = θ y + s f, which no estimate can see: after a restart (and in the
  multiplicity check's locked rounds) every step is a full pass.
"""

from __future__ import annotations

import math

import torch

NOISE = 30.0
DELTA = 0.1


class Reorthogonalisation:
    """Which steps get a full pass, and how many did."""

    def __init__(self, size: int, p: int, products, stored, tol: float, partial: bool):
        op, basis = torch.finfo(products).eps, torch.finfo(stored).eps
        self.partial = partial
        self.delta = min(math.sqrt(max(op, basis)), DELTA * tol)
        self.noise = basis + NOISE * op / math.sqrt(p)
        self.W = torch.eye(size + 1, dtype=torch.float64)  # the ω estimates
        self.norm = 0.0  # running estimate of ‖A‖: max over columns of S of Σ|S_ij| + β_j
        self.force = False  # the vector after a reorthogonalised one gets a full pass too
        self.full_passes = 0

    def full_due(self, m: int, size: int) -> bool:
        """A full pass now: not partial, the second of a pair, or the basis is full (the
        residual a restart keeps must be orthogonal to all of it)."""
        return not self.partial or self.force or m == size

    def lost(self, S: torch.Tensor, j: int, beta: float) -> bool:
        """After a local pass: estimate row j+1 (v_{j+1} against v_0..v_j) from S[: j+1,
        : j+1] and β_j; True when it crossed δ, so v_{j+1} needs a full pass."""
        n = j + 1
        s, w = S[:n, :n], self.W[:n, :n]
        self.norm = max(self.norm, float(s[:, j].abs().sum()) + beta)
        omega = s @ w[:, j] - w @ s[:, j]
        noise = self.noise * self.norm
        omega = (omega + noise * torch.where(omega >= 0, 1.0, -1.0)) / max(beta, 1e-300)
        omega[j] = self.noise  # the local pass left v_{j+1} ⟂ v_j, v_{j-1} to round-off
        self.W[j + 1, :n] = self.W[:n, j + 1] = omega
        return bool(omega.abs().max() > self.delta)

    def passed(self, row: int, forced_next: bool) -> None:
        """v_row was orthogonalised against every earlier row."""
        self.W[row, :row] = self.W[:row, row] = self.noise
        self.full_passes += 1
        self.force = forced_next

    def stop(self) -> None:
        """Full passes from now on (a restart, a locked round)."""
        self.partial = False
