"""The taylor-check report: per step, per residual check, per direction and for the run.

Field names and order are the JSON report's (render/json.py serialises them as declared)."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

from landscape.analyses.taylor.roundoff import NoiseEstimate
from landscape.report import Report


@dataclass(frozen=True)
class TaylorStep:
    eta: float
    delta_loss: float  # L(θ + ηd) − L(θ)
    first_order: float  # gᵀs, s = the represented step ≈ ηd
    second_order_hessian: float  # ½η² dᵀHd
    second_order_ggn: float  # ½η² dᵀGd
    r0: float
    r1: float
    r2_hessian: float
    r2_ggn: float
    order_r0: float | None  # observed order against the previous (larger) step
    order_r1: float | None
    order_r2_hessian: float | None
    order_r2_ggn: float | None
    noise: float  # estimated round-off in ΔL; residuals below FLOOR_FACTOR × noise are floor
    regime_r1: str  # floor | asymptotic | non-asymptotic | kink | single
    regime_r2_hessian: str
    regime_r2_ggn: str
    kinks: int | None  # activation units that changed linear piece (None: nothing to watch)


@dataclass(frozen=True)
class OrderCheck:
    residual: str  # r1 | r2_hessian | r2_ggn
    expected: float
    required: float | None  # None: informational (R₂ᴳ)
    order: float | None  # median observed order between consecutive steps of the window
    window: list[float] | None  # [η_min, η_max]
    window_steps: int
    status: str  # passed | failed | exact | inconclusive | kinks | not-checked | measured
    reason: str


@dataclass(frozen=True)
class Decomposition:
    """Terms of ΔL ≈ ηgᵀd + ½η²dᵀGd + ½η²dᵀTd (H = G + T)."""

    gradient: float  # gᵀd
    half_ggn: float  # ½dᵀGd
    half_nonlinearity: float  # ½dᵀTd = ½(dᵀHd − dᵀGd)
    half_hessian: float  # ½dᵀHd


@dataclass(frozen=True)
class DirectionReport:
    name: str
    passed: bool
    status: str  # passed | failed | inconclusive | kinks | not-checked
    reason: str
    order_r1: float | None
    order_r2_hessian: float | None
    order_r2_ggn: float | None
    r2_ggn_expected_order: int  # 2 where T ≠ 0 along d, 3 where T = 0
    m_over_6: float | None  # median R₂ᴴ/η³ over the window: |∂³L[d,d,d]|/6 ≤ M/6
    m_over_6_converged: bool  # the window's order is 3 ± 0.15 (else the η³ term is not alone)
    trust_radius: float | None  # largest η with R₂ᴴ ≤ 1% |ΔL| (and at every smaller step)
    trust_radius_is_lower_bound: bool  # held at the largest step of the sweep
    decomposition: Decomposition
    checks: list[OrderCheck]
    noise: NoiseEstimate
    eigenvalue: float | None
    eigenvalue_error_bound: float | None
    nonsmooth_ops: list[str]  # piecewise-smooth operations in the loss's autograd graph
    kinks_counted_in: list[str]  # operations / module types whose crossings are counted per step
    notes: list[str]
    steps: list[TaylorStep]
    vector: Tensor | None = field(default=None, repr=False)  # d itself, not serialised


@dataclass(frozen=True, kw_only=True)
class TaylorReport(Report):
    command: str = "taylor-check"
    passed: bool  # every direction passed (or --steps 0)
    verdict: str  # passed | inconclusive (no derivative error, an order not measurable) | failed
    loss: float
    num_params: int
    num_tensors: int  # θ's tensors
    num_targets: int  # the terms of the dataset mean (N, or the counted targets)
    num_samples: int
    dtype: str
    device: str
    strategy: str
    machine_epsilon: float
    etas: list[float]  # the steps given (--eps/--sweep); [] when chosen per direction
    steps_chosen: str  # per direction (from the round-off floor and the third-order term) | given
    thresholds: dict
    directions: list[DirectionReport]
    skipped: list[str]
    hessian_products: int
    ggn_products: int
    eigen_products: int
    loss_evaluations: int
    seconds: float
    distributed: dict | None = None  # world_size, backend, examples_per_rank (torchrun)
