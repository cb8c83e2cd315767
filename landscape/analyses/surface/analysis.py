"""`landscape surface`: L(θ + s·d₁ + t·d₂) on a grid, with the quadratic model beside it.

The quadratic model is L + s·gᵀd₁ + t·gᵀd₂ + ½[s, t]·DᵀHD·[s, t]ᵀ: one gradient and one
Hessian product per direction (for the Hessian's eigenvectors DᵀHD is diag(λ₁, λ₂), no
product). Its trust region is where it stays within 10% of the loss.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import Tensor

from landscape.analyses.surface.checks import (
    check_directions,
    check_points,
    check_range,
    check_values,
)
from landscape.analyses.surface.directions import (
    Direction,
    file_directions,
    hessian_directions,
    random_directions,
)
from landscape.analyses.surface.grid import point_losses
from landscape.analyses.surface.report import (
    TRUST_SHARE,
    GridPoint,
    SurfaceReport,
    SurfaceSettings,
    TrustRegion,
)
from landscape.curvature import HessianOperator
from landscape.estimators.lanczos import extreme_eigenpairs
from landscape.estimators.results import SolverInfo
from landscape.problem import Problem

Progress = Callable[[str, int], None]


def axis(settings: SurfaceSettings) -> Tensor:
    """The grid's coordinates along each direction (float64)."""
    steps = torch.arange(settings.grid, dtype=torch.float64) / (settings.grid - 1)
    return settings.lo + steps * (settings.hi - settings.lo)  # 0 exactly when on the grid


def grid_coords(x: Tensor, dims: int) -> Tensor:
    """Every grid point's coordinates (M, dims), x-major: row i·N + j is (x[i], x[j])."""
    if dims == 1:
        return x.reshape(-1, 1)
    s, t = torch.meshgrid(x, x, indexing="ij")
    return torch.stack([s.reshape(-1), t.reshape(-1)], dim=1)


def analyse_surface(
    problem: Problem,
    settings: SurfaceSettings,
    *,
    strategy: str = "auto",
    progress: Progress | None = None,
    on_eigen: Callable | None = None,
) -> SurfaceReport:
    """The surface; `on_eigen(eig)` sees the Hessian solve before the grid (to stop there)."""
    start = time.perf_counter()
    tell = progress or (lambda stage, n: None)
    check_range(settings.lo, settings.hi, "range of the grid")
    check_points(settings.grid**settings.dims, f"a grid of {settings.grid} per direction")
    loss, gradient = problem.loss_and_gradient()
    op = None
    eig = None
    if settings.directions == "hessian":
        op = HessianOperator(problem, strategy)
        eig = extreme_eigenpairs(
            op,
            settings.dims,
            0,
            tol=settings.tol,
            max_products=settings.max_products,
            seed=settings.seed,
            progress=lambda n: tell("eigenvectors", n),
            basis_budget=settings.basis_budget,
        )
        if on_eigen is not None:
            on_eigen(eig)
        directions = hessian_directions(problem, eig)
    elif settings.directions == "files":
        directions = file_directions(problem, settings.files, settings.normalize)
    else:
        directions = random_directions(problem, settings.dims, settings.normalize, settings.seed)
    check_directions(directions, settings.dims, len(settings.files))
    x = axis(settings)
    coords = grid_coords(x, settings.dims)
    evaluation = point_losses(
        problem,
        problem.params,
        [d.tensors for d in directions],
        coords,
        mode=settings.mode,
        progress=lambda n: tell("grid points", n),
    )
    slopes = [float(gradient.double() @ d.flat.double()) for d in directions]
    if op is None and settings.directions != "hessian":
        op = HessianOperator(problem, _one_shot(strategy))
    curvature = _curvature(op, directions)
    quadratic = _quadratic(coords, loss, slopes, curvature)
    losses = evaluation.losses
    check_values(losses, coords, "loss", "the grid point ({})")
    check_values(quadratic, coords, "quadratic model", "the grid point ({})")
    return SurfaceReport(
        dims=settings.dims,
        x=x.tolist(),
        y=x.tolist() if settings.dims == 2 else None,
        loss=_shaped(losses, settings),
        quadratic=_shaped(quadratic, settings),
        trust_region=trust_region(coords, losses, quadratic, settings),
        minimum=_minimum(coords, losses),
        center_loss=loss,
        slopes=slopes,
        curvature=curvature.tolist(),
        directions=directions,
        normalize=settings.normalize if settings.directions != "hessian" else "none",
        range=[settings.lo, settings.hi],
        log=settings.log,
        num_params=problem.num_params,
        num_tensors=len(problem.params),
        num_targets=problem.num_targets,
        num_samples=problem.num_samples,
        evaluation=evaluation,
        solver=solver_info(eig),
        products=op.products if op is not None else 0,
        seconds=time.perf_counter() - start,
        strategy=getattr(op, "strategy", None) or "none",
        dtype=str(problem.dtype).replace("torch.", ""),
        device=str(problem.device),
    )


def solver_info(eig) -> SolverInfo | None:
    if eig is None:
        return None
    return SolverInfo.of(eig)


def _one_shot(strategy: str) -> str:
    """A product or two: rebuilding the graph costs less than measuring whether to keep it."""
    return "double-backward" if strategy == "auto" else strategy


def _curvature(op, directions: list[Direction]) -> Tensor:
    """DᵀHD: diag(λ) for eigenvectors, else one product per direction."""
    if all(d.eigenpair is not None for d in directions):
        values = [d.eigenpair.value for d in directions]
        return torch.diag(torch.tensor(values, dtype=torch.float64))
    D = torch.stack([d.flat for d in directions], dim=1)
    HD = op.matmat(D)
    C = (D.double().T @ HD.double()).cpu()
    return (C + C.T) / 2


def _quadratic(coords: Tensor, loss: float, slopes: list[float], curvature: Tensor) -> Tensor:
    c = coords.double()
    g = torch.tensor(slopes, dtype=torch.float64)
    return loss + c @ g + 0.5 * ((c @ curvature) * c).sum(1)


def _shaped(values: Tensor, settings: SurfaceSettings) -> list:
    if settings.dims == 1:
        return values.tolist()
    return values.reshape(settings.grid, settings.grid).tolist()


def trust_region(
    coords: Tensor, losses: Tensor, quadratic: Tensor, settings: SurfaceSettings
) -> TrustRegion:
    """Grid points where |q − L| ≤ 10%·|L|, and the radius within which all of them are."""
    inside = (quadratic - losses).abs() <= TRUST_SHARE * losses.abs()
    distance = coords.double().norm(dim=1)
    outside = distance[~inside]
    whole = bool(inside.all())
    radius = float(distance.max()) if whole else float(outside.min())
    return TrustRegion(
        TRUST_SHARE,
        _shaped(inside, settings),
        radius,
        float(inside.double().mean()),
        whole,
    )


def _minimum(coords: Tensor, losses: Tensor) -> GridPoint:
    i = int(torch.argmin(losses))
    y = float(coords[i, 1]) if coords.shape[1] > 1 else None
    return GridPoint(float(coords[i, 0]), y, float(losses[i]))
