"""Partial reorthogonalisation: the ω estimates against the measured orthogonality of the
basis, the eigenpairs against dense float64 spectra, and the safety net for ghosts."""

import copy

import pytest
import torch

from landscape.curvature import make_operator
from landscape.estimators import lanczos
from landscape.estimators.orthogonality import Reorthogonalisation
from landscape.problem import build_problem


@pytest.fixture(autouse=True)
def partial(monkeypatch):
    monkeypatch.setattr(lanczos, "PARTIAL_FROM", 0)  # these problems have 1.5k parameters


@pytest.fixture(scope="module")
def problem(mlp_problem):
    return mlp_problem


@pytest.fixture(scope="module")
def eigenvalues(mlp_hessian):
    return torch.linalg.eigvalsh(mlp_hessian)


def float32_problem(problem):
    """The same model and data in float32 (its weights and inputs were float32 values)."""
    x = torch.cat([x for x, _ in problem.batches])
    y = torch.cat([y for _, y in problem.batches])
    model = copy.deepcopy(problem.model)
    return build_problem(model, x, y, problem.loss, batch_size=100, dtype=torch.float32)


def record(monkeypatch):
    """Per step: the measured max |v_kᵀ v_{j+1}| over the rows the estimates cover (all but
    the last two), the estimate, and whether the step took a full pass."""
    steps = []
    solve = lanczos._orthogonalize

    def recorded(basis, track, w, j):
        passes = track.full_passes
        w, beta = solve(basis, track, w, j)
        if track.partial and j > 1:
            v = w / beta
            measured = (basis.V[: j - 1].double() @ v).abs().max()
            estimate = track.W[j + 1, : j - 1].abs().max()
            steps.append((float(measured), float(estimate), track.full_passes > passes))
        return w, beta

    monkeypatch.setattr(lanczos, "_orthogonalize", recorded)
    return steps


def check(result, eigenvalues, tol, rounding=1e-14):
    """Every pair converged to `tol` and within its bound of the dense eigenvalue (plus the
    products' `rounding`, relative to max|λ|: float32 products see float32 weights)."""
    scale = float(eigenvalues.abs().max())
    top, bottom = eigenvalues.flip(0)[: len(result.top)], eigenvalues[: len(result.bottom)]
    for pairs, truth in ((result.top, top), (result.bottom, bottom)):
        for pair, t in zip(pairs, truth.tolist(), strict=True):
            assert pair.converged and pair.error_bound <= tol * scale
            assert abs(pair.value - t) <= pair.error_bound + rounding * scale


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_estimates_stay_above_the_measured_orthogonality(problem, monkeypatch, dtype):
    source = problem if dtype == torch.float64 else float32_problem(problem)
    steps = record(monkeypatch)
    tol = 1e-8 if dtype == torch.float64 else 1e-4
    result = lanczos.extreme_eigenpairs(make_operator("hessian", source), 5, 5, tol=tol)
    assert result.converged and len(steps) > 40
    for measured, estimate, full in steps:
        if not full:  # after a full pass both are round-off
            assert measured <= estimate
    semi = max(m for m, _, full in steps if not full)
    track = Reorthogonalisation(10, source.num_params, dtype, torch.float64, tol, True)
    assert semi <= track.delta  # the basis stayed semi-orthogonal
    assert 0 < result.full_passes < 0.6 * len(steps)  # most steps read two rows, not all


@pytest.mark.parametrize("k", [(5, 0), (0, 5), (5, 5)])
def test_partial_finds_the_dense_eigenvalues(problem, eigenvalues, k):
    op = make_operator("hessian", problem)
    result = lanczos.extreme_eigenpairs(op, *k, tol=1e-8)
    check(result, eigenvalues, 1e-8)
    assert result.orthogonality <= 1e-8  # distinct vectors: no ghost copies
    assert result.full_passes < result.products


def test_restarts_from_a_partial_basis(problem, eigenvalues):
    """A thick restart of a semi-orthogonal basis: its kept Ritz vectors are made orthonormal
    and the rest of the run takes full passes (float32 products, restarts every 20 steps)."""
    result = lanczos.extreme_eigenpairs(
        make_operator("hessian", float32_problem(problem)), 0, 5, tol=1e-4, max_basis=30
    )
    assert result.restarts >= 2
    check(result, eigenvalues, 1e-4, rounding=1e-5)
    assert result.orthogonality <= 1e-6


def test_ghosts_are_caught_and_solved_again(problem, eigenvalues, monkeypatch):
    """Estimates that never call for a full pass (a plain Lanczos recurrence) let copies of
    the converged top eigenvalue appear: the returned vectors are not orthonormal, and the
    solve is repeated with full passes (its products counted too)."""
    monkeypatch.setattr(Reorthogonalisation, "lost", lambda self, S, j, beta: False)
    runs = []
    solve = lanczos._solve

    def counted(*args, **kwargs):
        runs.append(kwargs["partial"])
        result = solve(*args, **kwargs)
        runs.append(result.orthogonality)
        return result

    monkeypatch.setattr(lanczos, "_solve", counted)
    op = make_operator("hessian", problem)
    result = lanczos.extreme_eigenpairs(op, 5, 5, tol=1e-8)
    assert runs[0] is True and runs[1] > lanczos.GHOSTS and runs[2] is False
    check(result, eigenvalues, 1e-8)
    assert result.orthogonality <= 1e-10 and result.products == op.products
