"""Settings and reports of `landscape surface` and `landscape interpolate` (frozen)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from torch import Tensor

from landscape.analyses.surface.directions import Direction
from landscape.analyses.surface.grid import Evaluation
from landscape.estimators.basis import BasisBudget
from landscape.estimators.results import SolverInfo
from landscape.report import Report

TRUST_SHARE = 0.1  # the trust region: |quadratic model − loss| ≤ 10% of |loss|


@dataclass(frozen=True)
class SurfaceSettings:
    """What to draw (built from the keywords by `api.settings`; no option defaults here)."""

    grid: int
    lo: float
    hi: float
    dims: int  # 1: a line, 2: a plane
    directions: str  # "random" | "hessian" | "files"
    normalize: str  # "filter" | "layer" | "none"
    seed: int
    tol: float = 1e-6
    max_products: int | None = None
    files: dict[Path, dict[str, Tensor]] = field(default_factory=dict, repr=False)
    log: bool = False  # the figure's loss axis
    mode: str = "auto"  # how points are evaluated: auto | vmap | loop (benchmarks, tests)
    basis_budget: BasisBudget | None = None  # the Krylov basis' memory (None: the solver's)


@dataclass(frozen=True)
class GridPoint:
    x: float
    y: float | None
    loss: float


@dataclass(frozen=True)
class TrustRegion:
    """Where the quadratic model is within `tolerance`·|L| of the loss: `inside[i][j]` on the
    grid, `radius` the distance from θ within which every grid point is inside."""

    tolerance: float
    inside: list
    radius: float
    share: float  # of the grid's points
    whole_grid: bool


@dataclass(frozen=True, kw_only=True)
class SurfaceReport(Report):
    command: str = "surface"
    dims: int
    x: list[float]
    y: list[float] | None
    loss: list  # loss[i][j] at (x[i], y[j]); a list for --dims 1
    quadratic: list  # L + c·Dᵀg + ½ cᵀ(DᵀHD)c on the same grid
    trust_region: TrustRegion
    minimum: GridPoint
    center_loss: float  # L(θ)
    slopes: list[float]  # gᵀd_k
    curvature: list[list[float]]  # DᵀHD (k × k)
    directions: list[Direction]
    normalize: str
    range: list[float]
    log: bool
    num_params: int
    num_tensors: int
    num_targets: int
    num_samples: int
    evaluation: Evaluation
    solver: SolverInfo | None
    products: int
    seconds: float
    strategy: str
    dtype: str
    device: str
    distributed: dict | None = None


@dataclass(frozen=True)
class InterpolationSettings:
    steps: int
    lo: float
    hi: float
    reset_bn: bool


@dataclass(frozen=True)
class Endpoint:
    """One checkpoint of the segment: its loss, gᵀΔ and ΔᵀHΔ there (Δ = θ_B − θ_A)."""

    path: str
    alpha: float  # 0 for A, 1 for B
    loss: float
    accuracy: float | None
    slope: float
    curvature: float


@dataclass(frozen=True)
class Barrier:
    """max over α ∈ [0, 1] of L(α) − ((1 − α)·L(0) + α·L(1)) on the grid and the ends."""

    value: float
    alpha: float
    relative: float | None  # value / max(L(0), L(1))


@dataclass(frozen=True)
class Taylor:
    """The second-order model of each end along the segment, on the grid's α."""

    from_a: list[float]
    from_b: list[float]


@dataclass(frozen=True, kw_only=True)
class InterpolationReport(Report):
    command: str = "interpolate"
    alphas: list[float]
    loss: list[float]
    accuracy: list[float] | None
    barrier: Barrier
    taylor: Taylor
    endpoints: list[Endpoint]
    buffers: str  # "interpolated" | "re-estimated (--reset-bn)" | "none"
    distance: float  # ‖θ_B − θ_A‖
    relative_distance: float  # ‖θ_B − θ_A‖ / ‖θ_A‖
    fixed_tensors: int  # parameters outside θ, kept at A's values
    num_params: int
    num_tensors: int
    num_targets: int
    num_samples: int
    products: int
    seconds: float
    strategy: str
    dtype: str
    device: str
    distributed: dict | None = None
