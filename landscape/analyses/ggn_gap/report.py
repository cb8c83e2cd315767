"""The results of `landscape ggn-gap`: frozen dataclasses, serialised field by field."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

from landscape.estimators.results import Eigenpair, Estimate
from landscape.report import Report

EF_NOTE = (
    "the empirical Fisher uses the data labels' gradients: it is neither the Fisher nor the "
    "GGN and is not a curvature"
)


@dataclass(frozen=True)
class Spectra:
    """Extreme eigenvalues of one matrix, each with its certified bound."""

    top: list[Eigenpair]  # descending
    bottom: list[Eigenpair]  # ascending (most negative first)
    converged: bool
    products: int  # products of this matrix (for T: each is one H and one G product)
    method: str  # "lanczos" | "dense"
    note: str | None = None


@dataclass(frozen=True)
class FrobeniusGap:
    """‖H − G‖_F / ‖H‖_F (= ‖T‖_F/‖H‖_F) and the norms it is made of."""

    value: float
    stderr: float
    hessian_norm: float  # ‖H‖_F
    ggn_norm: float  # ‖G‖_F
    t_norm: float  # ‖T‖_F
    method: str  # "probes" | "exact"
    probes: int  # Rademacher probes (0 when exact)


@dataclass(frozen=True)
class Direction:
    """Curvature along a unit direction d: dᵀHd = dᵀGd + dᵀTd."""

    name: str
    dHd: float
    dGd: float  # the loss-curvature channel (through H_L)
    dTd: float  # the model-nonlinearity channel
    t_share: float  # |dTd| / (|dGd| + |dTd|), in [0, 1]


@dataclass(frozen=True)
class FisherCheck:
    """Exact Fisher against G: max_j ‖(F − G)v_j‖ / max_j ‖G v_j‖ over the probes v_j (the
    columns of the identity when exact). Theory: 0 for softmax-CE, sigmoid-BCE and MSE."""

    max_relative_difference: float
    method: str  # "probes" | "exact"
    products: int


@dataclass(frozen=True)
class MonteCarloPoint:
    samples: int  # S labels drawn per example
    relative_error: float  # ‖F_S − G‖_F / ‖G‖_F
    stderr: float


@dataclass(frozen=True)
class MonteCarloFisher:
    """Error of the Monte-Carlo Fisher against G for growing S (probes, seeded draws)."""

    points: list[MonteCarloPoint]
    slope: float | None  # least-squares slope of log error against log S
    expected_slope: float = -0.5
    products: int = 0


@dataclass(frozen=True)
class EmpiricalFisherGap:
    relative_frobenius: Estimate  # ‖EF − G‖_F / ‖G‖_F
    top: list[Eigenpair]  # top eigenvalues of EF
    top_ratio: float | None  # λ_max(EF) / λ_max(G)
    products: int
    not_a_curvature: bool = True
    note: str = EF_NOTE


@dataclass(frozen=True)
class FitContext:
    """Why T is the size it is: T is weighted by the residuals g_z."""

    loss: float
    mean_output_grad_norm: float  # mean over examples of ‖g_z‖₂ = ‖∂ℓ_i/∂z_i‖₂
    fit_share: float  # share of examples with every output residual within the tolerance
    fit_definition: str
    correct_share: float | None  # argmax (or thresholded) prediction right; None for mse


@dataclass(frozen=True)
class LayerGap:
    """The diagonal block of one parameter group: ‖T_bb‖_F/‖H_bb‖_F and T_bb's extremes."""

    name: str
    num_params: int
    frobenius_gap: Estimate
    t_top: Eigenpair
    t_bottom: Eigenpair


@dataclass(frozen=True, kw_only=True)
class GgnGapReport(Report):
    command: str = "ggn-gap"
    loss_name: str
    num_params: int
    num_tensors: int  # θ's tensors
    num_targets: int  # the terms of the dataset mean (N, or the counted targets)
    num_samples: int
    exact: bool
    hessian: Spectra
    ggn: Spectra
    t: Spectra
    frobenius_gap: FrobeniusGap
    directions: list[Direction]
    fisher_vs_ggn: float
    fisher_check: FisherCheck
    mc_fisher: MonteCarloFisher
    empirical_fisher_gap: float
    empirical_fisher: EmpiricalFisherGap
    context: FitContext
    per_layer: list[LayerGap] | None
    products: dict[str, int]
    seconds: float
    strategy: str
    dtype: str
    device: str
    distributed: dict | None = None  # world_size, backend, examples_per_rank (torchrun)
    vectors: dict[str, Tensor] = field(default_factory=dict, repr=False)  # not serialised
