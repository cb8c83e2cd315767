"""`landscape spectrum`: extreme eigenvalues, trace, condition figures, density, per layer."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from landscape.curvature import BlockOperator, CurvatureOperator
from landscape.estimators.basis import BasisBudget
from landscape.estimators.lanczos import extreme_eigenpairs, solve_bound
from landscape.estimators.psd import CLUSTER_AT_ZERO, psd_bottom
from landscape.estimators.results import Eigenpair, EigenResult, SolverInfo, TraceEstimate
from landscape.estimators.slq import SpectralDensity, spectral_density
from landscape.estimators.trace import hutchpp_trace
from landscape.problem import Problem
from landscape.report import Report


@dataclass(frozen=True)
class Condition:
    lambda_max: float | None  # None when neither the solver nor a density gives it
    lambda_min: float | None
    condition_number: float | None  # λ_max/λ_min, PSD matrices with λ_min certified > 0
    negative_ratio: float | None  # |λ_min|/λ_max when λ_min < 0, else 0
    # the share of eigenvalues < 0 from the density run, None without it: an interval that
    # holds it (SLQ's quadrature bounds and sampling; no point value, see SpectralDensity)
    negative_fraction_interval: tuple[float, float] | None
    negative_fraction_resolution: float | None  # quadrature weight of the node nearest 0


@dataclass(frozen=True)
class LayerSpectrum:
    name: str
    num_params: int
    lambda_max: Eigenpair
    trace: TraceEstimate | None  # with --trace


@dataclass(frozen=True, kw_only=True)
class SpectrumReport(Report):
    command: str = "spectrum"
    curvature: str
    num_params: int
    num_tensors: int  # θ's tensors
    num_targets: int  # the terms of the dataset mean (N, or the counted targets)
    num_samples: int
    loss: float
    top: list[Eigenpair]
    bottom: list[Eigenpair]
    trace: TraceEstimate | None  # with --trace
    condition: Condition
    solver: SolverInfo
    products: int
    seconds: float
    strategy: str
    dtype: str
    device: str
    density: SpectralDensity | None = None
    per_layer: list[LayerSpectrum] | None = None
    bottom_note: str | None = None  # what the bottom end's values do and do not certify
    bottom_intervals: bool = False  # each bottom pair is the interval [0, 2·value] (PSD)
    distributed: dict | None = None  # world_size, backend, examples_per_rank (torchrun)
    eigen: EigenResult | None = field(default=None, repr=False)  # vectors, not serialised


@dataclass(frozen=True)
class SpectrumSettings:
    """What to compute (built from the keywords by `api.settings`; no defaults of its own)."""

    k_top: int
    k_bottom: int
    tol: float
    max_products: int | None
    trace: bool
    trace_samples: int
    density: bool
    density_starts: int
    density_steps: int
    per_layer: bool
    multiplicity_check: bool
    seed: int
    basis_budget: BasisBudget  # the Krylov basis' memory (--basis-memory)


def analyse_spectrum(
    problem: Problem,
    op: CurvatureOperator,
    settings: SpectrumSettings,
    progress: Callable[[str, int], None] | None = None,
) -> SpectrumReport:
    start = time.perf_counter()
    products0 = op.products
    tell = (lambda stage: lambda n: progress(stage, n)) if progress else (lambda stage: None)
    eig, note = _eigenpairs(op, settings, tell("eigenvalues"))
    trace = (
        hutchpp_trace(op, settings.trace_samples, seed=settings.seed) if settings.trace else None
    )
    density = None
    if settings.density:
        density = spectral_density(
            op,
            num_starts=settings.density_starts,
            lanczos_steps=settings.density_steps,
            seed=settings.seed,
        )
    layers = _per_layer(problem, op, settings) if settings.per_layer else None
    report = _report(problem, op, settings, eig, trace, density, layers, products0, start)
    intervals = note is not None and note.startswith(CLUSTER_AT_ZERO)
    return replace(report, bottom_note=note, bottom_intervals=intervals)


def product_bound(problem: Problem, settings: SpectrumSettings) -> int:
    """The most products `analyse_spectrum` takes: the solve (`solve_bound`), its re-solve with
    the multiplicity check when the bottom is a cluster (unless the check was asked for) and
    twice k_bottom products for [0, μ_i]; the trace's samples, the density's starts × steps,
    and each layer's solve and trace, each only when asked for."""
    k, p = settings.k_top + settings.k_bottom, problem.num_params
    solve = solve_bound(p, k, settings.max_products) if k else 0
    if settings.k_bottom:
        solve = solve * (1 if settings.multiplicity_check else 2) + 2 * settings.k_bottom
    trace = settings.trace_samples if settings.trace else 0
    density = settings.density_starts * settings.density_steps if settings.density else 0
    layers = 0
    if settings.per_layer:
        layers = sum(solve_bound(b.size, 1) + trace for b in problem.blocks())
    return solve + trace + density + layers


def _eigenpairs(op: CurvatureOperator, settings: SpectrumSettings, progress):
    """The extreme eigenpairs, and a note when the bottom end is exactly 0 by the rank rule:
    a PSD matrix Σ_i J_iᵀ M_i J_i has rank ≤ Σ_i rank M_i, so when that leaves at least k_bottom
    dimensions of its p, its k_bottom smallest eigenvalues are 0 and only the top is solved."""
    rank = op.rank_bound() if hasattr(op, "rank_bound") else None
    null = rank is not None and settings.k_bottom > 0 and op.num_params - rank >= settings.k_bottom
    k_bottom = 0 if null else settings.k_bottom
    if settings.k_top == 0 and k_bottom == 0:
        eig = EigenResult(top=[], bottom=[], converged=True, tol=settings.tol)
    else:
        eig = _solve(op, settings, k_bottom, progress, settings.multiplicity_check)
    if not null:
        return _bottom_end(op, settings, eig, progress)
    zeros = [Eigenpair(0.0, 0.0, True) for _ in range(settings.k_bottom)]
    note = (
        f"exactly 0 (not solved for): rank {op.name} ≤ {rank} < p = {op.num_params}, "
        f"so its {op.num_params - rank} smallest eigenvalues or more are 0"
    )
    return replace(eig, bottom=zeros), note


def _bottom_end(op, settings: SpectrumSettings, eig: EigenResult, progress):
    """The solved bottom end as far as it is certified, and a note on it.

    A PSD operator whose bottom reaches 0 gives intervals [0, μ_i] that hold its i-th smallest
    eigenvalue whatever the multiplicities (`psd_bottom`). Otherwise a bottom that looks like
    a cluster is re-solved with the multiplicity check, and values past a cluster it could not
    count are left out (`_cluster_cut`); the ranks of the rest are the solver's count, which
    locked re-solves support but cannot certify (`_rank_note`)."""
    checked = settings.multiplicity_check
    k_bottom = len(eig.bottom)
    recount = None if checked else (lambda: _solve(op, settings, k_bottom, progress, True))
    if op.psd and eig.bottom:
        psd, note = psd_bottom(op, eig, settings.tol, recount, name=op.name)
        if note is not None:
            return psd, note
    if not eig.bottom or not _clustered(eig.bottom, eig.scale):
        return eig, None
    eig = eig if checked else recount()  # count the cluster's copies
    cut, note = _cluster_cut(eig)
    return cut, note or _rank_note(eig, op.num_params)


def _rank_note(eig: EigenResult, p: int) -> str | None:
    """None when the Krylov space grew to all p dimensions: its Ritz values are then every
    eigenvalue with its multiplicity, and the ranks are exact."""
    if eig.krylov_dim >= p:
        return None
    return (
        f"a cluster at the bottom (multiplicity check: {eig.multiplicity or 'unfinished'}): "
        "each bound holds some eigenvalue, but a Krylov method cannot certify ranks in a "
        "cluster (it may hold one copy of a repeated eigenvalue), so the i-th listed may not "
        "be the i-th smallest"
    )


def _solve(op, settings: SpectrumSettings, k_bottom: int, progress, multiplicity: bool):
    return extreme_eigenpairs(
        op,
        settings.k_top,
        k_bottom,
        tol=settings.tol,
        max_products=settings.max_products,
        seed=settings.seed,
        progress=progress,
        multiplicity_check=multiplicity,
        basis_budget=settings.basis_budget,
    )


# Bottom Ritz values closer than this (relative to max|λ|) may hide copies a single Krylov
# space cannot see: an exact null space (symmetries, dead units, more parameters than data).
CLUSTER_REL = 1e-4


def _clustered(bottom: list[Eigenpair], scale: float) -> bool:
    """True when the bottom end looks like a cluster: its two smallest values within
    CLUSTER_REL·max|λ| of each other, or the smallest one 0 within its bound."""
    if not bottom or scale <= 0:
        return False
    near_zero = abs(bottom[0].value) <= bottom[0].error_bound + CLUSTER_REL * scale
    close = len(bottom) > 1 and bottom[1].value - bottom[0].value <= CLUSTER_REL * scale
    return near_zero or close


def _cluster_cut(eig: EigenResult) -> tuple[EigenResult, str | None]:
    """After the multiplicity check: when it could not count the bottom cluster (each locked
    re-solve found another copy), list only the copies found, never values past the cluster
    as the smallest, and say what is known: where the cluster is, its width, a lower bound
    on its multiplicity."""
    if eig.multiplicity != "unresolved" or not eig.bottom:
        return eig, None
    width = CLUSTER_REL * eig.scale
    first = eig.bottom[0]
    inside = [e for e in eig.bottom if e.value - first.value <= width]
    if len(inside) == len(eig.bottom):
        return eig, None
    top = max(e.value + e.error_bound for e in inside)
    note = (
        f"a cluster at the bottom: at least {len(inside)} eigenvalues in "
        f"[{first.value - first.error_bound:.3g}, {top:.3g}] (each locked re-solve found "
        "another copy, so a Krylov method cannot count them); the values past the cluster "
        "are not listed, as they may not be among the smallest"
    )
    return replace(eig, bottom=inside), note


def _report(problem, op, settings, eig, trace, density, layers, products0, start):
    return SpectrumReport(
        curvature=op.name,
        num_params=problem.num_params,
        num_tensors=len(problem.params),
        num_targets=problem.num_targets,
        num_samples=problem.num_samples,
        loss=problem.loss_at(),
        top=eig.top,
        bottom=eig.bottom,
        trace=trace,
        condition=_condition(eig, density),
        solver=SolverInfo.of(eig),
        products=op.products - products0,
        seconds=time.perf_counter() - start,
        strategy=getattr(op, "strategy", "dense"),
        dtype=str(op.dtype).replace("torch.", ""),
        device=str(op.device),
        density=density,
        per_layer=layers,
        eigen=eig,
    )


def _condition(eig: EigenResult, density: SpectralDensity | None) -> Condition:
    """Condition figures from the certified ends; the negative share only from a density run
    (a cheap SLQ's share is not resolved: it disagreed with the density's by 40 points)."""
    low = eig.bottom[0] if eig.bottom else None
    lam_max = eig.top[0].value if eig.top else getattr(density, "lambda_max", None)
    lam_min = low.value if low else getattr(density, "lambda_min", None)
    # λ_min certified > 0 (then the matrix is positive definite, PSD or not)
    certified_positive = low is not None and low.value - low.error_bound > 0 and bool(lam_max)
    return Condition(
        lambda_max=lam_max,
        lambda_min=lam_min,
        condition_number=lam_max / lam_min if certified_positive else None,
        negative_ratio=_negative_ratio(lam_min, lam_max),
        negative_fraction_interval=getattr(density, "negative_fraction_interval", None),
        negative_fraction_resolution=getattr(density, "negative_fraction_resolution", None),
    )


def _negative_ratio(lam_min: float | None, lam_max: float | None) -> float | None:
    if lam_min is None or lam_max is None:
        return None
    return abs(lam_min) / lam_max if lam_min < 0 and lam_max > 0 else 0.0


def _per_layer(problem: Problem, op: CurvatureOperator, settings: SpectrumSettings):
    layers = []
    for block in problem.blocks():
        sub = BlockOperator(op, block.slice)
        eig = extreme_eigenpairs(
            sub, 1, 0, tol=settings.tol, seed=settings.seed, basis_budget=settings.basis_budget
        )
        trace = (
            hutchpp_trace(sub, settings.trace_samples, seed=settings.seed)
            if settings.trace
            else None
        )
        layers.append(LayerSpectrum(block.name, block.size, eig.top[0], trace))
    return layers
