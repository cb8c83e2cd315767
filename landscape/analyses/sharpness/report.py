"""What `landscape sharpness` reports: its settings, each figure's result, the whole report.

The results are frozen: each is built once, with its final values. `to_jsonable` serialises
the fields in the order written here (those with repr=False stay out of the JSON).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

from landscape.analyses.surface.slices import LossSlice
from landscape.estimators.basis import BasisBudget
from landscape.estimators.results import Eigenpair, EigenResult, SolverInfo, TraceEstimate
from landscape.report import Report


@dataclass(frozen=True)
class Metric:
    value: float
    error_bound: float | None = None  # None: no bound is known (see `note`)
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class SharpnessSettings:
    """What to compute. The keywords' values come from `api.settings` (no defaults here); the
    fields with defaults are the method's own constants, not options."""

    k_top: int
    k_bottom: int = 1
    tol: float
    max_products: int | None
    trace_samples: int
    lr: float | None
    lr_source: str = "option"
    momentum: float | None = None  # β of SGD's momentum (None: the optimizer state's, or 0)
    nesterov: bool = False
    eps_sharpness: float
    rho: float  # adaptive worst-case radius (ℓ∞, scaled by |θ|)
    avg_rho: float  # adaptive average-case σ/|θ|
    ascent_steps: int
    chunk_size: int = 128  # m: examples per batch of the adaptive worst case
    avg_samples: int
    diag_samples: int = 100
    adam_keep_unmoved: bool  # keep the coordinates Adam never moved (v̂ = 0) in D^-1/2 H D^-1/2
    slice_points: int
    slice_radius: float
    slice_directions: int = 2
    seed: int
    # the Krylov basis' memory (None: the solver's); the JSON reports it in the solver block
    basis_budget: BasisBudget | None = field(default=None, repr=False)


@dataclass(frozen=True)
class AscentResult:
    increase: float  # largest L(θ+δ) − L(θ) found (a lower bound of the max)
    evaluations: int  # loss-and-gradient evaluations, the start included
    kkt: bool  # stopped at a KKT point of the box problem
    last_step: float  # last step size, in units of the box half-width


@dataclass(frozen=True)
class EpsSharpness:
    epsilon: float
    percent: float  # 100·increase/(1 + L)
    increase: float
    ascent: AscentResult


@dataclass(frozen=True)
class AdaptiveSharpness:
    rho: float
    chunk_size: int
    chunks: int
    value: float  # size-weighted mean over the chunks of each chunk's max increase
    evaluations: int  # per chunk, summed
    kkt_fraction: float


@dataclass(frozen=True)
class AverageSharpness:
    rho: float
    samples: int  # perturbations δ, each evaluated at ±δ
    value: float
    stderr: float


@dataclass(frozen=True)
class Stability:
    lr: float
    lr_source: str
    edge: float | None  # the largest stable η, limit/λ_max (None when λ_max ≤ 0)
    margin: float  # η·λ_max/limit
    margin_bound: float
    verdict: str
    method: str = "GD"  # GD, or heavy-ball / Nesterov momentum β = …
    momentum_source: str = "default"  # option | optimizer state | default
    limit: float = 2.0  # the bound on η·λ_max: 2, 2 + 2β, (2 + 2β)/(1 + 2β)


@dataclass(frozen=True)
class DiagonalFit:
    """How well √v̂ tracks |diag H| (source text 003)."""

    rank_correlation: float  # Spearman ρ between √v̂ and |diag H|
    scale: float  # c in |diag H| ≈ c·√v̂: median of |H_ii|/√v̂_i
    newton_ratio: float  # c·η: 1 means Adam's step is the diagonal Newton step
    log10_spread: float  # interquartile range of log10(|H_ii|/√v̂_i)
    samples: int  # products for diag H (Diag++; p or more: exact)
    exact: bool
    significant_fraction: float  # share of entries with |H_ii| > 2 standard errors
    sqrt_v_hat: Tensor | None = field(default=None, repr=False)
    diag_h: Tensor | None = field(default=None, repr=False)


@dataclass(frozen=True)
class LeftOut:
    """The coordinates Adam never moved, left out of the preconditioned operator."""

    count: int  # coordinates with v̂ = 0 (exp_avg_sq == 0 exactly)
    full: Eigenpair | None  # λ_max of the full operator S H S (all p coordinates)
    share: float | None  # ‖u_K̄‖² of the full operator's top eigenvector u
    share_low: float | None  # the interval the bound puts ‖u_K̄‖² in (None: not separated)
    share_high: float | None
    products: int  # Hessian-vector products of the full solve (the price of `share`)


@dataclass(frozen=True)
class AdamReport:
    lr: float
    beta1: float
    beta2: float
    eps: float
    step: int
    weight_decay: float
    threshold: float  # (2 + 2β₁)/((1 − β₁)η)
    preconditioned: Eigenpair | None  # λ_max(D^-1/2 H D^-1/2), D = diag(√v̂ + ε), on `kept`
    margin: float | None  # preconditioned / threshold (< 1: stable)
    products: int  # the full solve's (left_out.products) included
    kept: int = 0  # coordinates the preconditioned operator acts on
    unmoved: int = 0  # coordinates with v̂ = 0 (Adam never moved them), left out or kept
    keep_unmoved: bool = False  # kept on request (else left out)
    left_out: LeftOut | None = None  # None: nothing left out
    fit: DiagonalFit | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class SharpnessReport(Report):
    command: str = "sharpness"
    num_params: int
    num_tensors: int  # θ's tensors
    num_targets: int  # the terms of the dataset mean (N, or the counted targets)
    num_samples: int
    loss: float
    metrics: dict[str, Metric]
    unavailable: dict[str, str]  # metric → why it was not computed
    top: list[Eigenpair]
    bottom: list[Eigenpair]
    solver: SolverInfo | None
    trace: TraceEstimate | None
    stability: Stability | None
    adam: AdamReport | None
    eps_sharpness: EpsSharpness | None
    adaptive_sharpness: AdaptiveSharpness | None
    average_sharpness: AverageSharpness | None
    slices: list[LossSlice] | None
    settings: SharpnessSettings
    products: int  # Hessian-vector products
    gradient_evaluations: int
    seconds: float
    strategy: str
    dtype: str
    device: str
    distributed: dict | None = None  # world_size, backend, examples_per_rank (torchrun)
    eigen: EigenResult | None = field(default=None, repr=False)
