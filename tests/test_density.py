"""Stochastic Lanczos quadrature against matrices with known spectra."""

import math

import numpy as np
import pytest
import torch
from scipy.linalg import eigh_tridiagonal
from scipy.special import ndtr

from landscape.curvature.base import DenseOperator
from landscape.errors import InputError
from landscape.estimators.slq import _lanczos_block, spectral_density


def with_spectrum(lam, seed=0):
    """Q diag(lam) Qᵀ for a random orthogonal Q (float64)."""
    g = torch.Generator().manual_seed(seed)
    n = len(lam)
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    A = (Q * torch.as_tensor(np.asarray(lam), dtype=torch.float64)) @ Q.T
    return 0.5 * (A + A.T)


@pytest.fixture(scope="module")
def hessian_like():
    """p = 400, Hessian-like: 15% negative in [-2, -0.5], 35% exact zeros, a positive bulk
    in [0.5, 5] and two well-separated outliers (-6 and 20)."""
    rng = np.random.default_rng(1)
    lam = np.concatenate(
        [[-6.0], rng.uniform(-2, -0.5, 59), np.zeros(140), rng.uniform(0.5, 5, 199), [20.0]]
    )
    return with_spectrum(lam, seed=0), lam


@pytest.fixture(scope="module")
def hessian_like_result(hessian_like):
    A, _ = hessian_like
    op = DenseOperator(A)
    sd = spectral_density(op, num_starts=16, lanczos_steps=60, seed=0)
    return sd, op


def per_start_moment(sd, k):
    vals = [np.dot(w, np.asarray(t) ** k) for t, w in zip(sd.nodes, sd.weights, strict=True)]
    return np.mean(vals), np.std(vals, ddof=1) / math.sqrt(len(vals))


def test_shapes_products_and_weights(hessian_like_result):
    sd, op = hessian_like_result
    assert sd.num_starts == 16 and sd.lanczos_steps == 60
    assert sd.products == op.products == 16 * 60  # no breakdown: the spectrum has 340 values
    assert len(sd.nodes) == len(sd.weights) == 16
    for t, w in zip(sd.nodes, sd.weights, strict=True):
        assert len(t) == len(w) == 60
        assert sum(w) == pytest.approx(1.0, abs=1e-12)
        assert min(w) >= 0
    assert len(sd.grid) == len(sd.density) == 400


def test_negative_fraction_and_mass(hessian_like_result, hessian_like):
    sd, _ = hessian_like_result
    _, lam = hessian_like
    true = np.mean(lam < 0)  # 0.15; the 140 zeros must not count
    assert abs(sd.negative_fraction - true) <= 3 * sd.negative_fraction_stderr + 0.02
    assert 0 < sd.negative_fraction_stderr < 0.05
    true_mass = np.abs(lam[lam < 0]).sum() / len(lam)
    assert sd.negative_mass == pytest.approx(true_mass, rel=0.15)


def test_moments_match_trace_of_powers(hessian_like_result, hessian_like):
    sd, _ = hessian_like_result
    _, lam = hessian_like
    for k in (1, 2):
        mean, se = per_start_moment(sd, k)
        assert abs(mean - np.mean(lam**k)) < 4 * se, (k, mean, se, np.mean(lam**k))
        assert se < 0.1 * np.mean(np.abs(lam) ** k)


def test_extremes_converge(hessian_like_result, hessian_like):
    sd, _ = hessian_like_result
    _, lam = hessian_like
    assert sd.lambda_max == pytest.approx(lam.max(), rel=1e-6)
    assert sd.lambda_min == pytest.approx(lam.min(), rel=1e-6)


def test_density_integrates_to_one_and_matches_smoothed_truth(hessian_like_result, hessian_like):
    sd, _ = hessian_like_result
    _, lam = hessian_like
    g, d = np.asarray(sd.grid), np.asarray(sd.density)
    assert np.trapezoid(d, g) == pytest.approx(1.0, abs=1e-3)
    assert np.all(d >= 0)
    assert g[0] < sd.lambda_min - 4 * sd.sigma and g[-1] > sd.lambda_max + 4 * sd.sigma
    # default σ = range / steps
    assert sd.sigma == pytest.approx((sd.lambda_max - sd.lambda_min) / 60, rel=1e-12)
    # same smoothing applied to the true eigenvalues (cell averages of Gaussians)
    h = g[1] - g[0]
    cdf = lambda x: ndtr((x[:, None] - lam[None, :]) / sd.sigma)  # noqa: E731
    truth = (cdf(g + h / 2) - cdf(g - h / 2)).mean(axis=1) / h
    l1 = np.sum(np.abs(d - truth)) * h  # measured ≈ 0.03 (sampling error of 16 starts)
    assert l1 < 0.1, l1
    # the zero bulk (35% of the mass) is a peak at 0
    i0 = np.argmin(np.abs(g))
    assert d[i0] == pytest.approx(truth[i0], rel=0.25)


def test_continuous_spectrum_through_zero():
    """No gap at 0: the negative fraction carries a small quadrature error besides noise."""
    rng = np.random.default_rng(3)
    lam = np.concatenate([rng.uniform(-1, 4, 298), [-5.0, 20.0]])
    sd = spectral_density(DenseOperator(with_spectrum(lam, 2)), num_starts=12, lanczos_steps=50)
    true = np.mean(lam < 0)
    assert abs(sd.negative_fraction - true) <= 3 * sd.negative_fraction_stderr + 0.02
    assert sd.lambda_max == pytest.approx(20.0, rel=1e-6)
    assert sd.lambda_min == pytest.approx(-5.0, rel=1e-6)


def test_quadrature_is_exact_for_low_degree_polynomials():
    """Σ w θ^k = q₀ᵀ A^k q₀ for k ≤ 2m − 1 (Gauss quadrature), per start."""
    rng = np.random.default_rng(4)
    lam = rng.uniform(-1.0, 1.5, 150)
    A = with_spectrum(lam, seed=4)
    Q0 = torch.randn(150, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    Q0 = Q0 / Q0.norm(dim=0)
    m = 6
    alpha, beta, lengths = _lanczos_block(DenseOperator(A), Q0, m)
    assert list(lengths) == [m] * 3
    for j in range(3):
        theta, U = eigh_tridiagonal(alpha[:, j], beta[:, j])
        w = U[0] ** 2
        v = Q0[:, j]
        Akv = v.clone()
        for k in range(2 * m):
            exact = float(v @ Akv)  # q₀ᵀ A^k q₀
            assert np.dot(w, theta**k) == pytest.approx(exact, rel=1e-9, abs=1e-12), k
            Akv = A @ Akv


def test_starts_breaking_down_at_different_steps():
    """Start 0 is an eigenvector (1 step), start 1 mixes two (2 steps), start 2 is generic;
    the surviving recurrence must be unaffected by the others stopping."""
    lam = np.linspace(-2.0, 3.0, 60)
    g = torch.Generator().manual_seed(8)
    U, _ = torch.linalg.qr(torch.randn(60, 60, generator=g, dtype=torch.float64))
    A = (U * torch.as_tensor(lam)) @ U.T
    A = 0.5 * (A + A.T)
    q2 = torch.randn(60, generator=g, dtype=torch.float64)
    Q0 = torch.stack([U[:, 5], 0.6 * U[:, 10] + 0.8 * U[:, 40], q2 / q2.norm()], dim=1)
    op = DenseOperator(A)
    m = 12
    alpha, beta, lengths = _lanczos_block(op, Q0, m)
    assert list(lengths) == [1, 2, m]
    assert op.products == 1 + 2 + m
    assert alpha[0, 0] == pytest.approx(lam[5], abs=1e-12)
    theta, V = eigh_tridiagonal(alpha[:2, 1], beta[:1, 1])
    assert np.allclose(theta, [lam[10], lam[40]], atol=1e-12)
    assert np.allclose(V[0] ** 2, [0.36, 0.64], atol=1e-12)
    # the generic start equals a run on its own
    alone_a, alone_b, _ = _lanczos_block(DenseOperator(A), Q0[:, 2:].contiguous(), m)
    assert np.allclose(alpha[:, 2], alone_a[:, 0], atol=1e-12)
    assert np.allclose(beta[:, 2], alone_b[:, 0], atol=1e-12)


def test_steps_capped_at_p_recover_all_eigenvalues():
    """m = p with full reorthogonalisation: the nodes are the eigenvalues, no ghosts."""
    lam = np.linspace(-3.0, 7.0, 40) + 0.01 * np.random.default_rng(0).standard_normal(40)
    A = with_spectrum(lam, seed=6)
    op = DenseOperator(A)
    sd = spectral_density(op, num_starts=3, lanczos_steps=500)
    assert sd.lanczos_steps == 40
    assert sd.products <= 3 * 40
    for t, w in zip(sd.nodes, sd.weights, strict=True):
        assert np.allclose(np.sort(t), np.sort(lam), atol=1e-9)
        assert sum(w) == pytest.approx(1.0, abs=1e-12)
    mean, _ = per_start_moment(sd, 0)
    assert mean == pytest.approx(1.0, abs=1e-12)


def test_second_gram_schmidt_pass_changes_nothing_when_forced(monkeypatch):
    """The DGKS second pass (normally rare) gives the same recurrence when always taken."""
    import landscape.estimators.slq as density

    lam = np.random.default_rng(9).uniform(-1.0, 2.0, 80)
    A = with_spectrum(lam, seed=9)
    Q0 = torch.randn(80, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    Q0 = Q0 / Q0.norm(dim=0)
    a1, b1, n1 = _lanczos_block(DenseOperator(A), Q0, 80)
    monkeypatch.setattr(density, "_DGKS_ETA", 1.01)
    a2, b2, n2 = _lanczos_block(DenseOperator(A), Q0, 80)
    assert list(n1) == list(n2) == [80] * 4
    assert np.allclose(a1, a2, atol=1e-10) and np.allclose(b1, b2, atol=1e-10)
    for j in range(4):
        assert np.allclose(eigh_tridiagonal(a2[:, j], b2[:, j])[0], np.sort(lam), atol=1e-9)


def test_float32_full_length_has_no_ghost_eigenvalues():
    """m = p in float32: without reorthogonalisation Lanczos would duplicate outliers."""
    lam = np.concatenate([np.linspace(0.0, 1.0, 62), [30.0, -10.0]])
    A = with_spectrum(lam, seed=10).float()
    sd = spectral_density(DenseOperator(A), num_starts=2, lanczos_steps=64)
    for t in sd.nodes:
        t = np.sort(t)
        assert len(t) <= 64
        assert np.sum(np.abs(t - 30.0) < 1e-3) == 1 and np.sum(np.abs(t + 10.0) < 1e-3) == 1
        assert t[-1] == pytest.approx(30.0, rel=1e-5) and t[0] == pytest.approx(-10.0, rel=1e-5)


def test_breakdown_keeps_exact_quadrature():
    """Four distinct eigenvalues: every start breaks down after 4 steps."""
    mult = {-1.0: 30, 0.0: 100, 2.0: 50, 5.0: 20}
    lam = np.concatenate([np.full(n, v) for v, n in mult.items()])
    op = DenseOperator(with_spectrum(lam, seed=7))
    sd = spectral_density(op, num_starts=10, lanczos_steps=50, seed=3)
    assert sd.products == op.products == 10 * 4
    weight_at = {v: [] for v in mult}
    for t, w in zip(sd.nodes, sd.weights, strict=True):
        assert len(t) == 4
        assert np.allclose(t, sorted(mult), atol=1e-10)
        for v, wi in zip(sorted(mult), w, strict=True):
            weight_at[v].append(wi)
    for v, n in mult.items():
        ws = np.asarray(weight_at[v])
        assert abs(ws.mean() - n / 200) < 4 * ws.std(ddof=1) / math.sqrt(10) + 1e-12
    # fraction of eigenvalues < -tol: exactly the weight on -1
    assert sd.negative_fraction == pytest.approx(np.mean(weight_at[-1.0]), abs=1e-12)
    assert abs(sd.negative_fraction - 0.15) < 4 * sd.negative_fraction_stderr
    assert np.trapezoid(sd.density, sd.grid) == pytest.approx(1.0, abs=1e-3)


def test_zero_matrix():
    sd = spectral_density(
        DenseOperator(torch.zeros(50, 50, dtype=torch.float64)), num_starts=2, lanczos_steps=80
    )
    assert sd.products == 2 and sd.nodes == [[0.0], [0.0]]
    assert sd.negative_fraction == 0.0 and sd.negative_mass == 0.0
    assert sd.sigma == 1.0
    assert np.trapezoid(sd.density, sd.grid) == pytest.approx(1.0, abs=1e-3)


def test_reproducible_and_user_sigma(hessian_like):
    A, _ = hessian_like
    a = spectral_density(DenseOperator(A), num_starts=4, lanczos_steps=20, seed=5, sigma=0.05)
    b = spectral_density(DenseOperator(A), num_starts=4, lanczos_steps=20, seed=5, sigma=0.05)
    c = spectral_density(DenseOperator(A), num_starts=4, lanczos_steps=20, seed=6, sigma=0.05)
    assert a == b
    assert a.nodes != c.nodes
    assert a.sigma == 0.05
    # σ far below the grid spacing: cell averages still integrate to 1
    d = spectral_density(DenseOperator(A), num_starts=4, lanczos_steps=20, sigma=1e-4)
    assert np.trapezoid(d.density, d.grid) == pytest.approx(1.0, abs=1e-3)


def test_float32_operator(hessian_like):
    A, lam = hessian_like
    sd = spectral_density(DenseOperator(A.float()), num_starts=8, lanczos_steps=40)
    assert sd.lambda_max == pytest.approx(20.0, rel=1e-4)
    assert sd.lambda_min == pytest.approx(-6.0, rel=1e-4)
    assert abs(sd.negative_fraction - 0.15) <= 3 * sd.negative_fraction_stderr + 0.02
    for w in sd.weights:
        assert sum(w) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_starts": 1},
        {"lanczos_steps": 0},
        {"sigma": 0.0},
        {"sigma": float("nan")},
        {"grid_points": 1},
    ],
)
def test_invalid_inputs(kwargs):
    with pytest.raises(InputError):
        args = {"num_starts": 8, "lanczos_steps": 80, **kwargs}
        spectral_density(DenseOperator(torch.eye(5, dtype=torch.float64)), **args)
