"""What `landscape ggn-gap` is asked to compute, and the checks on it."""

from __future__ import annotations

from dataclasses import dataclass

from landscape.errors import InputError
from landscape.estimators.basis import BasisBudget

EXACT_MAX_PARAMS = 4000


@dataclass(frozen=True)
class GgnGapSettings:
    """What to compute (built from the keywords by `api.settings`; no defaults of its own)."""

    k: int
    tol: float
    max_products: int | None
    probes: int
    random_directions: int
    mc_samples: tuple[int, ...]
    per_layer: bool
    exact: bool
    seed: int
    basis_budget: BasisBudget | None = None  # the Krylov basis' memory (None: the solver's)

    def check(self, num_params: int) -> None:
        """InputError naming the option and its fix for any impossible value."""
        if not 1 <= self.k <= num_params:
            raise InputError(
                f"k must be between 1 and the number of parameters ({num_params}), got {self.k}",
                f"use e.g. k={min(5, num_params)}",
                "k",
            )
        if not self.tol > 0:
            raise InputError(f"tol must be positive, got {self.tol}", "use e.g. tol=1e-6", "tol")
        if self.probes < 2:
            raise InputError(
                f"probes must be at least 2 (a standard error needs two), got {self.probes}",
                "use e.g. probes=30",
                "probes",
            )
        if self.random_directions < 0:
            raise InputError(
                f"random_directions must be ≥ 0, got {self.random_directions}",
                "use e.g. random_directions=2",
                "random_directions",
            )
        if not self.mc_samples or any(s < 1 for s in self.mc_samples):
            raise InputError(
                f"mc_samples needs sample counts ≥ 1, got {list(self.mc_samples)}",
                "use e.g. mc_samples=1,4,16,64",
                "mc_samples",
            )
        if self.exact and num_params > EXACT_MAX_PARAMS:
            raise InputError(
                f"`exact` builds dense {num_params}×{num_params} matrices; it is limited to "
                f"{EXACT_MAX_PARAMS} parameters",
                "leave out `exact` (random probes estimate the gap) or select fewer "
                "parameters with `params`",
                ("exact", "params"),
            )
