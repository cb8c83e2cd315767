"""Hutch++ / Hutchinson trace and diagonal estimators against matrices with known spectra."""

import numpy as np
import pytest
import torch

from landscape.curvature.base import DenseOperator
from landscape.errors import InputError
from landscape.estimators.trace import (
    TraceEstimate,
    hutchinson_diagonal,
    hutchinson_trace,
    hutchpp_trace,
)


def with_spectrum(lam, seed=0):
    """Q diag(lam) Qᵀ for a random orthogonal Q (float64)."""
    g = torch.Generator().manual_seed(seed)
    n = len(lam)
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    A = (Q * torch.as_tensor(np.asarray(lam), dtype=torch.float64)) @ Q.T
    return 0.5 * (A + A.T)


@pytest.fixture(scope="module")
def generic():
    """p = 300, eigenvalues uniform in [-3, 5] (a third of them negative)."""
    lam = np.random.default_rng(2).uniform(-3.0, 5.0, 300)
    return with_spectrum(lam, seed=0), float(lam.sum())


@pytest.fixture(scope="module")
def low_rank_plus_noise():
    """p = 300: ten large eigenvalues of both signs plus a N(0, 0.1²) bulk."""
    rng = np.random.default_rng(5)
    big = [100.0, 80.0, -60.0, 50.0, 40.0, -30.0, 25.0, 20.0, 15.0, 10.0]
    lam = np.concatenate([big, rng.normal(0.0, 0.1, 290)])
    return with_spectrum(lam, seed=1), float(lam.sum())


def test_hutchpp_within_three_stderr_over_seeds(generic):
    A, true = generic
    z = []
    for seed in range(12):
        est = hutchpp_trace(DenseOperator(A), num_matvecs=90, seed=seed)
        assert est.method == "hutch++"
        assert est.products == 90 and est.stderr > 0
        z.append((est.value - true) / est.stderr)
    z = np.array(z)
    assert np.all(np.abs(z) < 3.0), z
    # the stderr is calibrated: E[z²] ≈ 1 (t with 29 dof: 1.07)
    assert 0.3 < np.mean(z**2) < 2.5, z


def test_hutchpp_beats_hutchinson_on_low_rank_plus_noise(low_rank_plus_noise):
    A, true = low_rank_plus_noise
    err_pp, err_h, se_pp = [], [], []
    for seed in range(10):
        pp = hutchpp_trace(DenseOperator(A), num_matvecs=60, seed=seed)
        h = hutchinson_trace(DenseOperator(A), num_matvecs=60, seed=seed)
        assert pp.products == h.products == 60
        err_pp.append(pp.value - true)
        err_h.append(h.value - true)
        se_pp.append(pp.stderr)
    rms_pp = np.sqrt(np.mean(np.square(err_pp)))
    rms_h = np.sqrt(np.mean(np.square(err_h)))
    # measured: Hutch++ rms ≈ 0.4, Hutchinson rms ≈ 28 (the ten outliers dominate it)
    assert rms_pp < 0.05 * rms_h, (rms_pp, rms_h)
    assert rms_pp < 1.5
    # the reported stderr matches the actual spread of the errors within a factor 2
    assert 0.5 < rms_pp / np.mean(se_pp) < 2.0


def test_hutchpp_exact_on_low_rank_psd():
    """Rank 5 < sketch size 10: Q spans the range, the deflated part is zero."""
    lam = np.zeros(200)
    lam[:5] = [9.0, 7.0, 4.0, 2.0, 1.0]
    est = hutchpp_trace(DenseOperator(with_spectrum(lam, seed=3), psd=True), num_matvecs=30)
    assert est.value == pytest.approx(23.0, rel=1e-10)
    assert est.stderr < 1e-9


def test_exact_mode_when_budget_reaches_p(generic):
    A, true = generic
    op = DenseOperator(A)
    est = hutchpp_trace(op, num_matvecs=300, block=64)
    assert est.method == "exact" and est.stderr == 0.0
    assert est.value == pytest.approx(true, rel=1e-12, abs=1e-10)
    assert est.products == op.products == 300
    assert hutchpp_trace(DenseOperator(A), num_matvecs=10_000).value == pytest.approx(
        true, rel=1e-12, abs=1e-10
    )


def test_products_equal_budget_and_blocks_respected(generic):
    A, _ = generic
    sizes = []

    class Recording(DenseOperator):
        def _matmat(self, V):
            sizes.append(V.shape[1])
            return super()._matmat(V)

    for budget in (3, 4, 5, 61, 100, 299):
        sizes.clear()
        op = Recording(A)
        est = hutchpp_trace(op, num_matvecs=budget, block=16)
        assert est.products == op.products == budget == sum(sizes)
        assert max(sizes) <= 16
        assert np.isfinite(est.value)
    # a budget of 3 leaves one Hutchinson sample: no stderr can be estimated
    assert hutchpp_trace(DenseOperator(A), num_matvecs=3).stderr == float("inf")


def test_reproducible_with_seed(generic):
    A, _ = generic
    a = hutchpp_trace(DenseOperator(A), num_matvecs=45, seed=7)
    b = hutchpp_trace(DenseOperator(A), num_matvecs=45, seed=7)
    c = hutchpp_trace(DenseOperator(A), num_matvecs=45, seed=8)
    assert a == b
    assert a.value != c.value
    d1, s1 = hutchinson_diagonal(DenseOperator(A), 20, seed=4)
    d2, s2 = hutchinson_diagonal(DenseOperator(A), 20, seed=4)
    assert torch.equal(d1, d2) and torch.equal(s1, s2)


def test_float32_operator(generic):
    A, true = generic
    est = hutchpp_trace(DenseOperator(A.float()), num_matvecs=90, seed=1)
    assert isinstance(est, TraceEstimate)
    assert abs(est.value - true) < 4 * est.stderr + 1e-3 * abs(true)


def test_hutchinson_diagonal_statistics(generic):
    A, _ = generic
    op = DenseOperator(A)
    m = 60
    diag, se = hutchinson_diagonal(op, num_matvecs=m, seed=0, block=25)
    assert op.products == m
    true = A.diagonal()
    z = ((diag - true) / se).numpy()
    # aggregates over 300 entries: z is roughly t(59), E[z²] ≈ 1.03
    assert 0.8 < np.mean(z**2) < 1.25, np.mean(z**2)
    assert abs(np.mean(z)) < 0.25
    assert np.max(np.abs(z)) < 5.0
    # the reported stderr matches the true one: Var(v_i (Av)_i) = Σ_{j≠i} A_ij² for Rademacher
    true_se = torch.sqrt(((A**2).sum(1) - true**2) / m)
    ratio = (se / true_se).numpy()
    assert 0.9 < np.median(ratio) < 1.1
    assert np.all((ratio > 0.5) & (ratio < 1.6))


def test_hutchinson_diagonal_exact_mode(generic):
    A, _ = generic
    op = DenseOperator(A)
    diag, se = hutchinson_diagonal(op, num_matvecs=300)
    assert torch.allclose(diag, A.diagonal(), rtol=0, atol=1e-12)
    assert torch.all(se == 0) and op.products == 300


def test_diagonal_of_diagonal_matrix_is_exact():
    """Rademacher v_i² = 1: for a diagonal A every sample equals the diagonal."""
    d = torch.linspace(-2.0, 3.0, 100, dtype=torch.float64)
    diag, se = hutchinson_diagonal(DenseOperator(torch.diag(d)), num_matvecs=7)
    assert torch.allclose(diag, d, atol=1e-14) and float(se.max()) < 1e-14


@pytest.mark.parametrize("budget", [0, 2, -1, 2.5])
def test_invalid_budget(generic, budget):
    A, _ = generic
    with pytest.raises(InputError):
        hutchpp_trace(DenseOperator(A), num_matvecs=budget)


def test_invalid_block_and_nan_operator(generic):
    A, _ = generic
    with pytest.raises(InputError):
        hutchpp_trace(DenseOperator(A), num_matvecs=30, block=0)
    with pytest.raises(InputError):
        hutchinson_diagonal(DenseOperator(A), num_matvecs=1)
    bad = A.clone()
    bad[0, 0] = float("nan")
    from landscape.errors import NumericalError

    with pytest.raises(NumericalError):
        hutchpp_trace(DenseOperator(bad), num_matvecs=30)
