"""The bottom of a singular PSD curvature: rank Σ J_iᵀ M_i J_i ≤ Σ rank M_i (the GGN and the
Fisher: N·rank H_L; the empirical Fisher: N), so when p exceeds that the smallest eigenvalues
are exactly 0, reported as such instead of Lanczos's tiny, unresolved values."""

from __future__ import annotations

import pytest
import torch
from dense import classification_problem, dense_empirical_fisher, dense_ggn

from landscape.analyses.spectrum import analyse_spectrum
from landscape.api.settings import settings_for
from landscape.curvature import make_operator


@pytest.mark.parametrize(
    ("loss", "curvature", "rank"),
    [("bce", "ggn", 10 * 3), ("cross-entropy", "ggn", 10 * 2), ("cross-entropy", "ef", 10)],
)
def test_the_bottom_of_a_singular_psd_curvature_is_exactly_zero(loss, curvature, rank):
    problem = classification_problem(n=10, sizes=(4, 16, 3), loss=loss, seed=2)
    dense = (dense_ggn if curvature == "ggn" else dense_empirical_fisher)(problem)
    exact = torch.linalg.eigvalsh(dense)
    assert int(torch.linalg.matrix_rank(dense)) <= rank < problem.num_params  # the bound holds
    op = make_operator(curvature, problem)
    assert op.rank_bound() == rank
    settings = settings_for("spectrum", problem.num_params, k=3, tol=1e-10)
    report = analyse_spectrum(problem, op, settings)
    assert [e.value for e in report.bottom] == [0.0, 0.0, 0.0]
    assert all(e.converged and e.error_bound == 0.0 for e in report.bottom)
    assert f"≤ {rank} < p = {problem.num_params}" in report.bottom_note
    assert [e.value for e in report.top] == pytest.approx(exact[-3:].flip(0).tolist(), rel=1e-8)
    assert report.condition.condition_number is None


def test_a_full_rank_curvature_is_solved_at_both_ends():
    # mse: no softmax shift directions (under cross-entropy G has hidden + 1 exact zeros, see
    # test_psd_bottom.py); λ_min = 2.8e-5 is clear of 0, so the Ritz certificates stand
    problem = classification_problem(n=200, sizes=(4, 3, 3), loss="mse", seed=1)
    op = make_operator("ggn", problem)
    assert op.rank_bound() >= problem.num_params  # 600 ≥ p = 27: no exact zeros promised
    report = analyse_spectrum(problem, op, settings_for("spectrum", problem.num_params, k=2))
    assert report.bottom_note is None
    exact = torch.linalg.eigvalsh(dense_ggn(problem))
    assert float(exact[0]) > 1e-5 * float(exact[-1])
    for e, lam in zip(report.bottom, exact, strict=False):
        assert e.converged and abs(e.value - float(lam)) <= e.error_bound + 1e-12


def null_space_problem():
    """Linear least squares with more parameters than examples: H = (2/N)·XᵀX has 50 exact
    zeros below a bulk of small positive eigenvalues (8e-5 ... 8e-3)."""
    from torch import nn

    from landscape.losses import get_loss
    from landscape.problem import build_problem

    torch.manual_seed(0)
    n, d = 250, 300
    U, _ = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64))
    V, _ = torch.linalg.qr(torch.randn(d, n, dtype=torch.float64))
    x = (U * torch.logspace(-1, 0, n, dtype=torch.float64)) @ V.T
    y = torch.randn(n, 1, dtype=torch.float64)
    return build_problem(nn.Linear(d, 1, bias=False).double(), x, y, get_loss("mse"))


def test_a_hessian_null_space_is_never_skipped_over():
    from landscape.estimators.lanczos import extreme_eigenpairs

    problem = null_space_problem()
    H = make_operator("hessian", problem)
    exact = torch.linalg.eigvalsh(H.dense())
    scale = float(exact[-1])
    assert int((exact.abs() < 1e-12 * scale).sum()) == 50 and float(exact[50]) > 7e-5
    # A single Krylov space lists values past the null space as "the smallest" ...
    plain = extreme_eigenpairs(H, 2, 5, tol=1e-6)
    assert plain.bottom[-1].value > 7e-5
    # ... the spectrum sees the cluster at the bottom and counts its copies.
    settings = settings_for("spectrum", problem.num_params, k=2, k_bottom=5)
    report = analyse_spectrum(problem, H, settings)
    assert len(report.bottom) == 5  # the ranks are the solver's count, and the note says so
    assert "the i-th listed may not be the i-th smallest" in report.bottom_note
    assert all(abs(e.value) <= e.error_bound + 1e-10 * scale for e in report.bottom)
    # More than its locked re-solves can count: only the copies found, and a note.
    settings = settings_for("spectrum", problem.num_params, k=2, k_bottom=12)
    report = analyse_spectrum(problem, H, settings)
    assert 5 <= len(report.bottom) < 12
    assert all(abs(e.value) <= e.error_bound + 1e-10 * scale for e in report.bottom)
    assert report.bottom_note.startswith(f"a cluster at the bottom: at least {len(report.bottom)}")
