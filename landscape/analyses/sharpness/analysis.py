"""`landscape sharpness`: curvature and perturbation sharpness figures, by the gate's names.

- λ_max, λ_min (Lanczos, certified residual bounds), trace and trace/p (Hutch++), and
  stability against the learning rate η (curvature.py).
- Adam state in the checkpoint: preconditioned sharpness and the √v̂ ↔ |diag H| fit (adam.py).
- ε-sharpness, adaptive worst-case and average-case sharpness (perturbation.py).
- 1D loss slices along the top eigenvector and along filter-normalised random directions
  (analyses/surface/slices.py).

This module runs the parts asked for (see metrics.PARTS_OF) and builds the report.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from landscape.analyses.sharpness.adam import analyse_adam, resolve_adam
from landscape.analyses.sharpness.curvature import extreme_pairs, solver_info, stability_of
from landscape.analyses.sharpness.metrics import ADAM_METRICS, ALL_PARTS, collect_metrics
from landscape.analyses.sharpness.momentum import momentum_of
from landscape.analyses.sharpness.perturbation import (
    adaptive_sharpness,
    average_sharpness,
    eps_sharpness,
)
from landscape.analyses.sharpness.report import SharpnessReport, SharpnessSettings
from landscape.analyses.surface.slices import LossSlice, eigen_slice, random_slices, slice_grid
from landscape.curvature import HessianOperator
from landscape.estimators.results import EigenResult, TraceEstimate
from landscape.estimators.trace import hutchpp_trace
from landscape.problem import Problem

Progress = Callable[[str, int], None]
HESSIAN_PARTS = frozenset({"top", "bottom", "trace", "adam_eigen", "adam_diag"})


def unavailable_metrics(problem: Problem, settings: SharpnessSettings, optimizer) -> dict:
    """Metrics that cannot be computed for this checkpoint, with the reason (cheap)."""
    adam_pair, reason = resolve_adam(problem, optimizer, settings.lr)
    return _unavailable(adam_pair, reason, _learning_rate(settings, adam_pair)[0])


def _unavailable(adam_pair, adam_reason: str, lr: float | None) -> dict[str, str]:
    out = {}
    if adam_pair is None:
        out.update({name: adam_reason for name in ADAM_METRICS})
    if lr is None:
        out["stability_margin"] = "no learning rate: pass --lr (or store 'lr' in the checkpoint)"
    return out


def analyse_sharpness(
    problem: Problem,
    settings: SharpnessSettings,
    *,
    parts: set[str] | None = None,
    optimizer: dict | None = None,
    strategy: str = "auto",
    progress: Progress | None = None,
) -> SharpnessReport:
    """Every sharpness figure (parts=None) or only the listed parts (see PARTS_OF)."""
    start = time.perf_counter()
    parts = set(ALL_PARTS if parts is None else parts)
    if "slices" in parts:
        parts.add("top")
    tell = progress or (lambda stage, n: None)
    loss = problem.loss_at()
    adam_pair, adam_reason = resolve_adam(problem, optimizer, settings.lr)
    lr, lr_source = _learning_rate(settings, adam_pair)
    op = HessianOperator(problem, strategy) if parts & HESSIAN_PARTS else None
    eig = _eigen(op, settings, parts, tell)
    top = eig.top[0] if eig and eig.top else None
    stability = None
    if top is not None and lr is not None:
        momentum = momentum_of(settings.momentum, settings.nesterov, optimizer)
        stability = stability_of(top, lr, lr_source, momentum)
    figures = {
        "loss": loss,
        "top": eig.top if eig else [],
        "bottom": eig.bottom if eig else [],
        "trace": _trace(op, settings) if "trace" in parts else None,
        "adam": _adam(op, adam_pair, settings, parts, tell),
        "stability": stability,
        **_perturbation(problem, settings, loss, parts, tell),
    }
    return SharpnessReport(
        num_params=problem.num_params,
        num_tensors=len(problem.params),
        num_targets=problem.num_targets,
        num_samples=problem.num_samples,
        metrics=collect_metrics(problem.num_params, **figures),
        unavailable=_unavailable(adam_pair, adam_reason, lr) | _unmoved(figures["adam"]),
        solver=solver_info(eig),
        slices=_slices(problem, settings, eig, loss) if "slices" in parts else None,
        settings=settings,
        products=op.products if op else 0,
        gradient_evaluations=_gradient_evaluations(figures),
        seconds=time.perf_counter() - start,
        strategy=getattr(op, "strategy", "none"),
        dtype=str(problem.dtype).replace("torch.", ""),
        device=str(problem.device),
        eigen=eig,
        **figures,
    )


def _eigen(op, settings: SharpnessSettings, parts: set[str], tell) -> EigenResult | None:
    if not {"top", "bottom"} & parts:
        return None
    return extreme_pairs(
        op, settings, "top" in parts, "bottom" in parts, lambda n: tell("eigenvalues", n)
    )


def _trace(op, settings: SharpnessSettings) -> TraceEstimate:
    return hutchpp_trace(op, settings.trace_samples, seed=settings.seed)


def _adam(op, adam_pair, settings: SharpnessSettings, parts: set[str], tell):
    wanted = {"adam_eigen", "adam_diag"} & parts
    if adam_pair is None or not wanted:
        return None
    state, lr = adam_pair
    return analyse_adam(
        op,
        state,
        lr,
        eigen="adam_eigen" in parts,
        diagonal="adam_diag" in parts,
        keep_unmoved=settings.adam_keep_unmoved,
        tol=settings.tol,
        max_products=settings.max_products,
        diag_samples=settings.diag_samples,
        seed=settings.seed,
        progress=lambda n: tell("preconditioned eigenvalue", n),
    )


def _unmoved(adam) -> dict[str, str]:
    """The preconditioned figures when every coordinate was left out (v̂ = 0 everywhere)."""
    if adam is None or adam.preconditioned is not None or adam.left_out is None:
        return {}
    why = "Adam has moved no coordinate (v̂ = 0 everywhere): nothing is left to precondition"
    return {"preconditioned_sharpness": why, "adam_stability_margin": why}


def _perturbation(problem: Problem, s: SharpnessSettings, loss: float, parts, tell) -> dict:
    """The ε-, adaptive worst-case and average-case figures, None where not asked for."""
    return {
        "eps_sharpness": (
            eps_sharpness(problem, loss, s.eps_sharpness, s.ascent_steps, s.seed)
            if "eps" in parts
            else None
        ),
        "adaptive_sharpness": (
            adaptive_sharpness(
                problem,
                s.rho,
                s.chunk_size,
                s.ascent_steps,
                s.seed,
                lambda n: tell("adaptive sharpness (batches)", n),
            )
            if "adaptive" in parts
            else None
        ),
        "average_sharpness": (
            average_sharpness(problem, loss, s.avg_rho, s.avg_samples, s.seed)
            if "average" in parts
            else None
        ),
    }


def _gradient_evaluations(figures: dict) -> int:
    """Loss-and-gradient evaluations of the worst-case ascents."""
    eps, adaptive = figures["eps_sharpness"], figures["adaptive_sharpness"]
    return (eps.ascent.evaluations if eps else 0) + (adaptive.evaluations if adaptive else 0)


def _slices(
    problem: Problem, settings: SharpnessSettings, eig: EigenResult | None, loss: float
) -> list[LossSlice]:
    t = slice_grid(settings.slice_radius, settings.slice_points)
    slices = []
    if eig is not None and eig.top_vectors is not None and eig.top_vectors.shape[1]:
        v = eig.top_vectors[:, 0].to(dtype=problem.dtype, device=problem.device)
        slices.append(eigen_slice(problem, v, eig.top[0].value, t, loss))
    return slices + random_slices(problem, settings.slice_directions, t, settings.seed + 1)


def _learning_rate(settings: SharpnessSettings, adam_pair) -> tuple[float | None, str]:
    if settings.lr is not None:
        return float(settings.lr), settings.lr_source
    if adam_pair is not None:
        return adam_pair[1], "optimizer state"
    return None, ""
