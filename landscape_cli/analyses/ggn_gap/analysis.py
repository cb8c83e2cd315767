"""`landscape ggn-gap`: how far the GGN, the Fisher and the empirical Fisher are from H.

H = G + T (MATH.md, "Decomposition through the logits"): G = E[Jᵀ H_L J] is the GGN (PSD),
T = E[Σ_k (g_z)_k ∇²z_k] the model's own nonlinearity weighted by the output residuals g_z.
Everything here is computed from products:
- extreme eigenvalues of H, G and T = H − G by Lanczos (certified residual bounds);
- ‖H − G‖_F/‖H‖_F from Rademacher probes (E‖Av‖² = ‖A‖_F²), the same probes for numerator
  and denominator, with a delta-method standard error on the ratio of means;
- dᵀHd, dᵀGd, dᵀTd along named directions;
- the Fisher check: exact Fisher F (an expectation over the model's predictive distribution,
  computed separately from H_L) against G, the Monte-Carlo Fisher's error against G for
  growing S (expected ~1/√S), and the empirical Fisher's gap to G.
With `exact` the matrices are built densely (p ≤ EXACT_MAX_PARAMS) and every figure but the
Monte-Carlo errors is exact to rounding.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
import torch
from torch import Tensor

from landscape_cli.curvature import (
    BlockOperator,
    CurvatureOperator,
    DenseOperator,
    DifferenceOperator,
    EmpiricalFisherOperator,
    FisherOperator,
    GGNOperator,
    HessianOperator,
)
from landscape_cli.errors import InputError, NumericalError
from landscape_cli.estimators.lanczos import Eigenpair, EigenResult, extreme_eigenpairs
from landscape_cli.estimators.trace import rademacher
from landscape_cli.problem import Problem

EXACT_MAX_PARAMS = 4000
# G's bottom end is a near-null continuum when G is singular (p > N·rank H_L): Lanczos converges
# there slowly, so G's solve stops after max(this, 2 × the H solve's products) unless
# --max-products says otherwise; its bounds stay certified, its `converged` flags honest.
GGN_MIN_PRODUCTS = 300
BLOCK = 64  # columns per matmat
FIT_TOLERANCE = 0.05
EF_NOTE = (
    "the empirical Fisher uses the data labels' gradients: it is neither the Fisher nor the "
    "GGN and is not a curvature"
)


# ------------------------------------------------------------------------------- report
@dataclass
class Spectra:
    """Extreme eigenvalues of one matrix, each with its certified bound."""

    top: list[Eigenpair]  # descending
    bottom: list[Eigenpair]  # ascending (most negative first)
    converged: bool
    products: int  # products of this matrix (for T: each is one H and one G product)
    method: str  # "lanczos" | "dense"
    note: str | None = None


@dataclass
class Estimate:
    value: float
    stderr: float


@dataclass
class FrobeniusGap:
    """‖H − G‖_F / ‖H‖_F (= ‖T‖_F/‖H‖_F) and the norms it is made of."""

    value: float
    stderr: float
    hessian_norm: float  # ‖H‖_F
    ggn_norm: float  # ‖G‖_F
    t_norm: float  # ‖T‖_F
    method: str  # "probes" | "exact"
    probes: int  # Rademacher probes (0 when exact)


@dataclass
class Direction:
    """Curvature along a unit direction d: dᵀHd = dᵀGd + dᵀTd."""

    name: str
    dHd: float
    dGd: float  # the loss-curvature channel (through H_L)
    dTd: float  # the model-nonlinearity channel
    t_share: float  # |dTd| / (|dGd| + |dTd|), in [0, 1]


@dataclass
class FisherCheck:
    """Exact Fisher against G: max_j ‖(F − G)v_j‖ / max_j ‖G v_j‖ over the probes v_j (the
    columns of the identity when exact). Theory: 0 for softmax-CE, sigmoid-BCE and MSE."""

    max_relative_difference: float
    method: str  # "probes" | "exact"
    products: int


@dataclass
class MonteCarloPoint:
    samples: int  # S labels drawn per example
    relative_error: float  # ‖F_S − G‖_F / ‖G‖_F
    stderr: float


@dataclass
class MonteCarloFisher:
    """Error of the Monte-Carlo Fisher against G for growing S (probes, seeded draws)."""

    points: list[MonteCarloPoint]
    slope: float | None  # least-squares slope of log error against log S
    expected_slope: float = -0.5
    products: int = 0


@dataclass
class EmpiricalFisherGap:
    relative_frobenius: Estimate  # ‖EF − G‖_F / ‖G‖_F
    top: list[Eigenpair]  # top eigenvalues of EF
    top_ratio: float | None  # λ_max(EF) / λ_max(G)
    products: int
    not_a_curvature: bool = True
    note: str = EF_NOTE


@dataclass
class FitContext:
    """Why T is the size it is: T is weighted by the residuals g_z."""

    loss: float
    mean_output_grad_norm: float  # mean over examples of ‖g_z‖₂ = ‖∂ℓ_i/∂z_i‖₂
    fit_share: float  # share of examples with every output residual within the tolerance
    fit_definition: str
    correct_share: float | None  # argmax (or thresholded) prediction right; None for mse


@dataclass
class LayerGap:
    """The diagonal block of one parameter group: ‖T_bb‖_F/‖H_bb‖_F and T_bb's extremes."""

    name: str
    num_params: int
    frobenius_gap: Estimate
    t_top: Eigenpair
    t_bottom: Eigenpair


@dataclass(kw_only=True)
class GgnGapReport:
    command: str = "ggn-gap"
    loss_name: str
    num_params: int
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
    vectors: dict[str, Tensor] = field(default_factory=dict, repr=False)  # not serialised


@dataclass
class GgnGapSettings:
    k: int = 5
    tol: float = 1e-6
    max_products: int | None = None
    probes: int = 30
    random_directions: int = 2
    mc_samples: tuple[int, ...] = (1, 4, 16, 64)
    per_layer: bool = False
    exact: bool = False
    seed: int = 0

    def check(self, num_params: int) -> None:
        """InputError naming the option and its fix for any impossible value."""
        if not 1 <= self.k <= num_params:
            raise InputError(
                f"--k must be between 1 and the number of parameters ({num_params}), got {self.k}",
                f"use e.g. --k {min(5, num_params)}",
            )
        if not self.tol > 0:
            raise InputError(f"--tol must be positive, got {self.tol}", "use e.g. --tol 1e-6")
        if self.probes < 2:
            raise InputError(
                f"--probes must be at least 2 (a standard error needs two), got {self.probes}",
                "use e.g. --probes 30",
            )
        if self.random_directions < 0:
            raise InputError(
                f"--random-directions must be ≥ 0, got {self.random_directions}",
                "use e.g. --random-directions 2",
            )
        if not self.mc_samples or any(s < 1 for s in self.mc_samples):
            raise InputError(
                f"--mc-samples needs sample counts ≥ 1, got {list(self.mc_samples)}",
                "use e.g. --mc-samples 1,4,16,64",
            )
        if self.exact and num_params > EXACT_MAX_PARAMS:
            raise InputError(
                f"--exact builds dense {num_params}×{num_params} matrices; it is limited to "
                f"{EXACT_MAX_PARAMS} parameters",
                "leave out --exact (random probes estimate the gap) or select fewer "
                "parameters with --params",
            )


# ------------------------------------------------------------------------------- analysis
class _Ledger:
    """The autograd-backed operators and their product counts."""

    def __init__(self, progress: Callable[[str, int], None] | None):
        self.counts: dict[str, int] = {}
        self.ops: dict[str, CurvatureOperator] = {}
        self._progress = progress

    def add(self, key: str, op: CurvatureOperator) -> CurvatureOperator:
        self.ops[key] = op
        return op

    def retire(self, key: str) -> None:
        """Drop an operator (and its kept graphs), keeping its count."""
        op = self.ops.pop(key)
        self.counts[key] = self.counts.get(key, 0) + op.products

    def total(self) -> dict[str, int]:
        out = dict(self.counts)
        for key, op in self.ops.items():
            out[key] = out.get(key, 0) + op.products
        out = {key: out[key] for key in sorted(out, key=_product_order)}
        out["total"] = sum(out.values())
        return out

    def tell(self, stage: str) -> Callable[[int], None]:
        if self._progress is None:
            return lambda _n: None
        return lambda _n: self._progress(stage, self.total()["total"])


def _product_order(key: str) -> int:
    order = ("hessian", "ggn", "fisher", "empirical_fisher", "mc_fisher")
    return order.index(key) if key in order else len(order)


def analyse_ggn_gap(
    problem: Problem,
    settings: GgnGapSettings,
    strategy: str = "auto",
    progress: Callable[[str, int], None] | None = None,
) -> GgnGapReport:
    settings.check(problem.num_params)
    start = time.perf_counter()
    ledger = _Ledger(progress)
    H = ledger.add("hessian", HessianOperator(problem, strategy))
    G = ledger.add("ggn", GGNOperator(problem, strategy))
    if settings.exact:
        part = _exact_part(problem, settings, ledger, H, G, strategy)
    else:
        part = _probe_part(problem, settings, ledger, H, G, strategy)
    directions, vectors = _directions(problem, part, settings)
    mc = _monte_carlo(problem, settings, ledger, part["mc_probes"], part["mc_ggn"], strategy)
    layers = _per_layer(problem, settings, ledger, H, G, part) if settings.per_layer else None
    return GgnGapReport(
        loss_name=problem.loss.name,
        num_params=problem.num_params,
        num_samples=problem.num_samples,
        exact=settings.exact,
        hessian=part["hessian"],
        ggn=part["ggn"],
        t=part["t"],
        frobenius_gap=part["gap"],
        directions=directions,
        fisher_vs_ggn=part["fisher"].max_relative_difference,
        fisher_check=part["fisher"],
        mc_fisher=mc,
        empirical_fisher_gap=part["ef"].relative_frobenius.value,
        empirical_fisher=part["ef"],
        context=fit_context(problem),
        per_layer=layers,
        products=ledger.total(),
        seconds=time.perf_counter() - start,
        strategy=H.strategy,
        dtype=str(problem.dtype).replace("torch.", ""),
        device=str(problem.device),
        vectors=vectors,
    )


def _probe_part(problem, settings, ledger, H, G, strategy) -> dict:
    """Lanczos spectra and probe estimates: the route for models of any size."""
    k = settings.k
    V = _probes(problem, settings)
    HV, GV = apply_blocked(H, V), apply_blocked(G, V)
    ledger.tell("probes")(0)
    eig = {"hessian": _solve(H, k, k, settings, ledger.tell("H eigenvalues"))}
    eig["ggn"], ggn_note = ggn_eigenpairs(
        problem, G, settings, eig["hessian"].products, progress=ledger.tell("G eigenvalues")
    )
    eig["t"] = difference_eigenpairs(
        DifferenceOperator(H, G, "t"),
        k,
        settings,
        eig["hessian"].scale,
        _norm(HV - GV, exact=False),
        progress=ledger.tell("T eigenvalues"),
    )
    F = ledger.add("fisher", FisherOperator(problem, strategy=strategy))
    FV = apply_blocked(F, V)
    ledger.retire("fisher")
    EF = ledger.add("empirical_fisher", EmpiricalFisherOperator(problem, strategy))
    EFV = apply_blocked(EF, V)
    ef_eig = _solve(EF, k, 0, settings, ledger.tell("empirical Fisher"))
    ef_products = EF.products
    ledger.retire("empirical_fisher")
    return {
        **{name: _spectra(e, "lanczos") for name, e in eig.items()},
        "ggn": _spectra(eig["ggn"], "lanczos", ggn_note),
        "eig": eig,
        "gap": _frobenius_gap(HV, GV, exact=False),
        "fisher": FisherCheck(_max_relative_difference(FV, GV), "probes", V.shape[1]),
        "ef": _ef_gap(EFV, GV, ef_eig, eig["ggn"], ef_products, exact=False),
        "operators": (H, G),
        "mc_probes": V,
        "mc_ggn": GV,
    }


def _exact_part(problem, settings, ledger, H, G, strategy) -> dict:
    """Dense matrices (p products each) and their exact eigen-decompositions."""
    tell = ledger.tell("dense matrices")
    Hd = H.dense()
    tell(0)
    Gd = G.dense()
    tell(0)
    F = ledger.add("fisher", FisherOperator(problem, strategy=strategy))
    Fd = F.dense()
    ledger.retire("fisher")
    EF = ledger.add("empirical_fisher", EmpiricalFisherOperator(problem, strategy))
    EFd = EF.dense()
    ledger.retire("empirical_fisher")
    tell(0)
    k = settings.k
    eig = {
        "hessian": dense_eigenpairs(Hd, k, k),
        "ggn": dense_eigenpairs(Gd, k, k),
        "t": dense_eigenpairs(Hd - Gd, k, k),
    }
    ef_eig = dense_eigenpairs(EFd, k, 0)
    V = _probes(problem, settings)
    return {
        **{name: _spectra(e, "dense") for name, e in eig.items()},
        "eig": eig,
        "gap": _frobenius_gap(Hd, Gd, exact=True),
        "fisher": FisherCheck(_max_relative_difference(Fd, Gd), "exact", problem.num_params),
        "ef": _ef_gap(EFd, Gd, ef_eig, eig["ggn"], problem.num_params, exact=True),
        "operators": (DenseOperator(Hd), DenseOperator(Gd, psd=True)),
        "dense": (Hd, Gd),
        "mc_probes": V,
        "mc_ggn": Gd @ V,
    }


def ggn_rank_bound(problem: Problem) -> int:
    """rank G ≤ N·rank(H_L): C − 1 per example for softmax cross-entropy, else C."""
    x = problem.batches[0][0][:1]
    with torch.no_grad():
        C = problem.loss.flat_outputs(problem.outputs(problem.params, x)).shape[1]
    per_example = C - 1 if problem.loss.name in ("cross-entropy", "nll") else C
    return problem.num_samples * per_example


def ggn_eigenpairs(problem, G, settings, hessian_products, progress=None):
    """G's extremes and a note on its bottom end.

    When rank G ≤ N·rank(H_L) ≤ p − k, G's k smallest eigenvalues are 0 exactly (G is PSD
    and singular); they are reported as 0 with bound 0 and only the top is solved for.
    Otherwise both ends are solved, the solve capped (see GGN_MIN_PRODUCTS).
    """
    k, rank = settings.k, ggn_rank_bound(problem)
    if problem.num_params - rank >= k:
        eig = _solve(G, k, 0, settings, progress)
        eig.bottom = [Eigenpair(0.0, 0.0, True) for _ in range(k)]
        note = (
            f"bottom eigenvalues exactly 0: rank G ≤ N·rank H_L = {rank} < p = {problem.num_params}"
        )
        return eig, note
    cap = settings.max_products or max(GGN_MIN_PRODUCTS, 2 * hessian_products)
    eig = _solve(G, k, k, settings, progress, max_products=cap)
    return eig, None


def difference_eigenpairs(
    T, k: int, settings, h_scale: float, t_norm: float, progress=None
) -> EigenResult:
    """Extreme eigenpairs of T = H − G, converged at tol·max(|λ_T|, |λ_H|).

    T's products are differences of H and G products and carry rounding of order eps·‖H‖,
    so T is resolved relative to H's scale, not its own (which is rounding noise when T = 0).
    The solver's own relative tol is loosened by h_scale/(1.5·‖T‖_F) (‖T‖_F ≥ |λ_T|, here a
    probe estimate), so that it stops no earlier than the criterion above is met.
    """
    solver_tol = settings.tol
    if h_scale > 0:
        solver_tol = settings.tol * max(1.0, h_scale / (1.5 * t_norm)) if t_norm > 0 else 1.0
    eig = _solve(T, k, k, settings, progress, tol=solver_tol)
    threshold = settings.tol * max(eig.scale, h_scale)
    for e in eig.top + eig.bottom:
        e.converged = e.error_bound <= threshold
    eig.converged = all(e.converged for e in eig.top + eig.bottom)
    eig.tol = settings.tol
    return eig


def _solve(op, k_top, k_bottom, settings, progress=None, max_products=None, tol=None):
    return extreme_eigenpairs(
        op,
        k_top,
        k_bottom,
        tol=tol or settings.tol,
        max_products=max_products or settings.max_products,
        seed=settings.seed,
        progress=progress,
    )


def _probes(problem: Problem, settings: GgnGapSettings) -> Tensor:
    """The Rademacher probes shared by every Frobenius estimate (seeded)."""
    gen = _generator(problem, settings.seed)
    return rademacher(problem.num_params, settings.probes, gen, problem.dtype, problem.device)


def _generator(problem: Problem, seed: int) -> torch.Generator:
    return torch.Generator(device=problem.device).manual_seed(int(seed))


def apply_blocked(op: CurvatureOperator, V: Tensor, block: int = BLOCK) -> Tensor:
    """A V through op.matmat, `block` columns at a time; non-finite products raise."""
    out = torch.cat([op.matmat(V[:, i : i + block]) for i in range(0, V.shape[1], block)], 1)
    if not torch.isfinite(out).all():
        raise NumericalError(
            f"the {op.name} operator returned non-finite products",
            "check the model and data for NaN/inf",
        )
    return out


def _spectra(eig: EigenResult, method: str, note: str | None = None) -> Spectra:
    converged = all(e.converged for e in eig.top + eig.bottom)
    return Spectra(eig.top, eig.bottom, converged, eig.products, method, note)


def dense_eigenpairs(M: Tensor, k_top: int, k_bottom: int) -> EigenResult:
    """Extreme eigenpairs of a dense symmetric matrix (LAPACK, only the wanted ones),
    certified like the Lanczos ones by their residual norms."""
    start = time.perf_counter()
    M = 0.5 * (M + M.T)
    A = M.detach().cpu().double().numpy()
    n = A.shape[0]
    k_top, k_bottom = min(k_top, n), min(k_bottom, n)
    cols = []
    if k_top:
        _, Q = scipy.linalg.eigh(A, subset_by_index=[n - k_top, n - 1], driver="evr")
        cols.append(Q[:, ::-1])
    if k_bottom:
        cols.append(scipy.linalg.eigh(A, subset_by_index=[0, k_bottom - 1], driver="evr")[1])
    X = torch.from_numpy(np.ascontiguousarray(np.concatenate(cols, axis=1)))
    X = X.to(dtype=M.dtype, device=M.device)
    MX = M @ X
    values = (X * MX).sum(0)
    res = (MX - X * values).norm(dim=0)
    pairs = [Eigenpair(float(v), float(r), True) for v, r in zip(values, res)]
    return EigenResult(
        top=pairs[:k_top],
        bottom=pairs[k_top:],
        top_vectors=X[:, :k_top],
        bottom_vectors=X[:, k_top:],
        products=0,
        krylov_dim=n,
        tol=0.0,
        converged=True,
        seconds=time.perf_counter() - start,
    )


# --------------------------------------------------------------------- Frobenius estimates
def relative_frobenius(diff_cols: Tensor, ref_cols: Tensor, exact: bool) -> Estimate:
    """‖A − B‖_F/‖B‖_F from (A − B)V and BV.

    With Rademacher columns v_j, E‖Av‖² = ‖A‖_F²: the ratio of the means of a_j = ‖(A−B)v_j‖²
    and b_j = ‖Bv_j‖² estimates the squared ratio; its standard error follows from the delta
    method with the sample (co)variances of the pairs (a_j, b_j). With `exact` the columns are
    the whole matrices (V = I) and the stderr is 0.
    """
    a = diff_cols.double().pow(2).sum(0)
    b = ref_cols.double().pow(2).sum(0)
    abar, bbar = float(a.mean()), float(b.mean())
    if bbar <= 0:
        return Estimate(0.0 if abar == 0 else math.inf, 0.0)
    ratio2 = abar / bbar
    if exact or len(a) < 2:
        return Estimate(math.sqrt(ratio2), 0.0)
    cov = torch.cov(torch.stack([a, b]))
    var2 = (
        cov[0, 0] / bbar**2 - 2 * cov[0, 1] * abar / bbar**3 + cov[1, 1] * abar**2 / bbar**4
    ) / len(a)
    se2 = math.sqrt(max(float(var2), 0.0))
    value = math.sqrt(ratio2)
    return Estimate(value, se2 / (2 * value) if value > 0 else 0.0)


def _norm(cols: Tensor, exact: bool) -> float:
    """‖A‖_F from AV: exact (V = I) or the probe estimate sqrt(mean ‖Av_j‖²)."""
    squares = cols.double().pow(2).sum(0)
    return math.sqrt(float(squares.sum() if exact else squares.mean()))


def _frobenius_gap(HV: Tensor, GV: Tensor, exact: bool) -> FrobeniusGap:
    TV = HV - GV
    est = relative_frobenius(TV, HV, exact)
    return FrobeniusGap(
        value=est.value,
        stderr=est.stderr,
        hessian_norm=_norm(HV, exact),
        ggn_norm=_norm(GV, exact),
        t_norm=_norm(TV, exact),
        method="exact" if exact else "probes",
        probes=0 if exact else HV.shape[1],
    )


def _max_relative_difference(AV: Tensor, BV: Tensor) -> float:
    scale = float(BV.norm(dim=0).max())
    diff = float((AV - BV).norm(dim=0).max())
    return diff / scale if scale > 0 else (0.0 if diff == 0 else math.inf)


def _ef_gap(EFV, GV, ef_eig: EigenResult, ggn_eig: EigenResult, products, exact):
    lam_g = ggn_eig.top[0].value if ggn_eig.top else 0.0
    return EmpiricalFisherGap(
        relative_frobenius=relative_frobenius(EFV - GV, GV, exact),
        top=ef_eig.top,
        top_ratio=ef_eig.top[0].value / lam_g if lam_g > 0 else None,
        products=products,
    )


# ------------------------------------------------------------------------------ directions
def _directions(problem: Problem, part: dict, settings: GgnGapSettings):
    """dᵀHd, dᵀGd, dᵀTd for eigenvectors of H, G and T, the gradient and random unit d."""
    eig = part["eig"]
    named = [
        ("hessian top-1", eig["hessian"].top_vectors[:, 0]),
        ("hessian bottom-1", eig["hessian"].bottom_vectors[:, 0]),
        ("ggn top-1", eig["ggn"].top_vectors[:, 0]),
        ("t bottom-1", eig["t"].bottom_vectors[:, 0]),
    ]
    g = problem.gradient()
    if float(g.norm()) > 0:
        named.append(("gradient", g / g.norm()))
    gen = _generator(problem, settings.seed + 1)
    for i in range(settings.random_directions):
        v = torch.randn(
            problem.num_params, generator=gen, dtype=problem.dtype, device=problem.device
        )
        named.append((f"random-{i + 1}", v / v.norm()))
    D = torch.stack([v / v.norm() for _, v in named], dim=1)
    H, G = part["operators"]
    HD, GD = apply_blocked(H, D), apply_blocked(G, D)
    dHd = (D * HD).sum(0).double().tolist()
    dGd = (D * GD).sum(0).double().tolist()
    dTd = (D * (HD - GD)).sum(0).double().tolist()
    out = []
    for (name, _), h, gg, t in zip(named, dHd, dGd, dTd):
        denom = abs(gg) + abs(t)
        out.append(Direction(name, h, gg, t, abs(t) / denom if denom > 0 else 0.0))
    return out, {name: D[:, i] for i, (name, _) in enumerate(named)}


# ---------------------------------------------------------------------------- Monte Carlo
def _monte_carlo(problem, settings, ledger, V: Tensor, GV: Tensor, strategy: str):
    points = []
    for S in sorted(set(settings.mc_samples)):
        key = "mc_fisher"
        op = ledger.add(
            key, FisherOperator(problem, mc_samples=S, seed=settings.seed, strategy=strategy)
        )
        FV = apply_blocked(op, V)
        ledger.retire(key)
        est = relative_frobenius(FV - GV, GV, exact=False)
        points.append(MonteCarloPoint(S, est.value, est.stderr))
        ledger.tell("Monte-Carlo Fisher")(0)
    return MonteCarloFisher(points, fit_slope(points), products=ledger.total()["mc_fisher"])


def fit_slope(points: list[MonteCarloPoint]) -> float | None:
    """Least-squares slope of log(error) against log(S); None with < 2 usable points."""
    usable = [
        (p.samples, p.relative_error)
        for p in points
        if p.relative_error > 0 and math.isfinite(p.relative_error)
    ]
    if len({s for s, _ in usable}) < 2:
        return None
    x = np.log([s for s, _ in usable])
    y = np.log([e for _, e in usable])
    return float(np.polyfit(x, y, 1)[0])


# --------------------------------------------------------------------------------- context
def fit_context(problem: Problem) -> FitContext:
    """Mean ‖g_z‖ and the share of examples already fit (see `residuals`)."""
    loss = problem.loss
    with torch.no_grad():
        z = torch.cat(
            [loss.flat_outputs(problem.outputs(problem.params, x)) for x, _ in problem.batches]
        )
        y = torch.cat([y for _, y in problem.batches])
        gz = loss.output_grad(z, y)
        r, definition = residuals(loss.name, z, y)
        fit = float((r.abs().amax(dim=1) <= FIT_TOLERANCE).double().mean())
    return FitContext(
        loss=problem.loss_at(),
        mean_output_grad_norm=float(gz.double().norm(dim=1).mean()),
        fit_share=fit,
        fit_definition=definition,
        correct_share=_correct_share(loss.name, z, y),
    )


def residuals(loss_name: str, z: Tensor, y: Tensor) -> tuple[Tensor, str]:
    """Per-output residuals on a scale where FIT_TOLERANCE means "fit", and the definition."""
    tol = FIT_TOLERANCE
    if loss_name in ("cross-entropy", "nll"):
        t = y if y.dtype.is_floating_point else torch.nn.functional.one_hot(y, z.shape[1])
        return torch.softmax(z, 1) - t.to(z.dtype), (
            f"every class probability within {tol} of its target (p_y ≥ {1 - tol} for labels)"
        )
    if loss_name == "bce":
        return torch.sigmoid(z) - y.reshape(z.shape).to(z.dtype), (
            f"every output probability within {tol} of its target"
        )
    y = y.reshape(z.shape).to(z.dtype)
    scale = float(y.std()) if y.numel() > 1 and float(y.std()) > 0 else 1.0
    return (z - y) / scale, f"every output within {tol} target standard deviations of its target"


def _correct_share(loss_name: str, z: Tensor, y: Tensor) -> float | None:
    if loss_name in ("cross-entropy", "nll"):
        labels = y.argmax(1) if y.dtype.is_floating_point else y
        return float((z.argmax(1) == labels).double().mean())
    if loss_name == "bce":
        right = (z > 0) == (y.reshape(z.shape) > 0.5)
        return float(right.all(dim=1).double().mean())
    return None


# ------------------------------------------------------------------------------- per layer
def _per_layer(problem, settings, ledger, H, G, part) -> list[LayerGap]:
    """The gap of each diagonal block H_bb − G_bb (off-diagonal blocks are not included)."""
    layers = []
    gen = _generator(problem, settings.seed + 2)
    h_scale = part["eig"]["hessian"].scale
    for block in problem.blocks():
        bh, bg = BlockOperator(H, block.slice), BlockOperator(G, block.slice)
        if settings.exact:
            Hb, Gb = (M[block.slice, block.slice] for M in part["dense"])
            gap = relative_frobenius(Hb - Gb, Hb, exact=True)
            t = dense_eigenpairs(Hb - Gb, 1, 1)
        else:
            V = rademacher(block.size, settings.probes, gen, problem.dtype, problem.device)
            HV, GV = apply_blocked(bh, V), apply_blocked(bg, V)
            gap = relative_frobenius(HV - GV, HV, exact=False)
            t = difference_eigenpairs(
                DifferenceOperator(bh, bg, "t"), 1, settings, h_scale, _norm(HV - GV, exact=False)
            )
        layers.append(LayerGap(block.name, block.size, gap, t.top[0], t.bottom[0]))
        ledger.tell("per layer")(0)
    return layers
