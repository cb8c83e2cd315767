"""The step-size limit of (S)GD with momentum on the local quadratic.

Along an eigenvector of H with eigenvalue λ > 0 write a = ηλ. PyTorch's SGD keeps
v ← βv + (1 − d)g and steps θ ← θ − ηv (heavy ball; d is the dampening), or with
`nesterov=True` steps along g + βv. With u = ηv the iteration is linear in (θ, u):
- heavy ball: θ' = (1 − a')θ − βu with a' = (1 − d)a; its characteristic polynomial
  z² − (1 + β − a')z + β has both roots inside the unit circle iff 0 < a' < 2 + 2β;
- Nesterov: θ' = (1 − (1 + β)a')θ − β²u, polynomial z² − (1 + β − (1 + β)a')z + β(1 − a'),
  stable iff 0 < a' < (2 + 2β)/(1 + 2β)  (Jury's conditions: 1 ± tr + det > 0, |det| < 1).
β = 0 gives plain gradient descent's ηλ < 2 in both. So the largest stable η is limit/λ_max
with limit = 2, 2 + 2β, or (2 + 2β)/(1 + 2β), each divided by 1 − d.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Momentum:
    beta: float = 0.0
    nesterov: bool = False
    dampening: float = 0.0
    source: str = "default"  # option | optimizer state | default

    @property
    def limit(self) -> float:
        """The bound on η·λ_max below which the iteration is stable."""
        b = self.beta
        base = (2 + 2 * b) / (1 + 2 * b) if self.nesterov else 2 + 2 * b
        return base / (1 - self.dampening)

    @property
    def name(self) -> str:
        if self.beta == 0:
            return "GD"
        kind = "Nesterov" if self.nesterov else "heavy-ball"
        damp = f", dampening {self.dampening:g}" if self.dampening else ""
        return f"{kind} momentum β = {self.beta:g}{damp}"

    @property
    def formula(self) -> str:
        if self.beta == 0:
            return "2"
        core = "(2 + 2β)/(1 + 2β)" if self.nesterov else "2 + 2β"
        return core + ("/(1 − d)" if self.dampening else "")


def momentum_of(beta: float | None, nesterov: bool, optimizer: dict | None) -> Momentum:
    """The momentum the user gave (--momentum, --nesterov), else an SGD optimizer state's,
    else none (plain gradient descent)."""
    if beta is not None:
        return Momentum(float(beta), bool(nesterov), 0.0, "option")
    group = _sgd_group(optimizer)
    if group is not None and float(group.get("momentum") or 0.0) > 0:
        return Momentum(
            float(group["momentum"]),
            bool(group.get("nesterov", False)),
            float(group.get("dampening") or 0.0),
            "optimizer state",
        )
    return Momentum(0.0, bool(nesterov), 0.0, "default")


def _sgd_group(optimizer: dict | None) -> dict | None:
    """The first parameter group of an SGD state dict (it has `momentum`, Adam has `betas`)."""
    groups = (optimizer or {}).get("param_groups") or []
    group = groups[0] if groups and isinstance(groups[0], dict) else None
    return group if group is not None and "momentum" in group and "betas" not in group else None
