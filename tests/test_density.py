"""Stochastic Lanczos quadrature against matrices with known spectra."""

import math

import numpy as np
import pytest
import torch
from dense import dense_hessian
from scipy.linalg import eigh, eigh_tridiagonal
from scipy.special import ndtr
from scipy.stats import t as student
from torch import nn

from landscape.curvature.base import DenseOperator
from landscape.errors import InputError
from landscape.estimators.slq import (
    _lanczos_block,
    cdf_bounds,
    spectral_density,
    start_bounds,
)
from landscape.losses import get_loss
from landscape.problem import build_problem


def with_spectrum(lam, seed=0):
    """Q diag(lam) Qᵀ for a random orthogonal Q (float64)."""
    g = torch.Generator().manual_seed(seed)
    n = len(lam)
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    A = (Q * torch.as_tensor(np.asarray(lam), dtype=torch.float64)) @ Q.T
    return 0.5 * (A + A.T)


def dense_truth(lam, tol):
    """What the intervals must hold: the share below −tol and below tol (the eigenvalues
    within ±tol of 0 count as either sign), and (1/p)Σ_{λ<0}|λ|."""
    lam = np.asarray(lam)
    return np.mean(lam < -tol), np.mean(lam < tol), -lam[lam < 0].sum() / len(lam)


def assert_holds(sd, lam):
    below, upto, mass = dense_truth(lam, sd.zero_tol)
    lo, hi = sd.negative_fraction_interval
    assert 0 <= lo <= below <= np.mean(np.asarray(lam) < 0) <= upto <= hi <= 1, (lo, hi)
    m_lo, m_hi = sd.negative_mass_interval
    assert 0 <= m_lo <= mass <= m_hi, (m_lo, mass, m_hi)


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


def test_negative_share_and_mass_hold_the_truth(hessian_like_result, hessian_like):
    """15% negative, 35% exact zeros (which count as either sign): the interval holds both
    ends, [share(λ < −tol), share(λ < tol)] = [0.15, 0.50], and the mass."""
    sd, _ = hessian_like_result
    _, lam = hessian_like
    assert_holds(sd, lam)
    lo, hi = sd.negative_fraction_interval
    assert lo > 0.1 and hi < 0.6  # measured: [0.121, 0.535]
    assert 0.2 < sd.negative_fraction_resolution < 0.6  # the zero cluster's node


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
    """No gap at 0: the nodes next to 0 leave their weight undecided; the interval holds."""
    rng = np.random.default_rng(3)
    lam = np.concatenate([rng.uniform(-1, 4, 298), [-5.0, 20.0]])
    sd = spectral_density(DenseOperator(with_spectrum(lam, 2)), num_starts=12, lanczos_steps=50)
    assert_holds(sd, lam)
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
    # every rule is its start's measure: the bounds are its counts below −tol (the weight
    # on −1) and below tol (the weight on −1 and on the zeros, which count as either sign)
    lo, hi = sd.negative_fraction_interval
    below, zeros = np.asarray(weight_at[-1.0]), np.asarray(weight_at[0.0])
    q = student.ppf(0.995, 9) / math.sqrt(10)  # 99%: one-sided 99.5% at each end
    assert lo == pytest.approx(below.mean() - q * below.std(ddof=1), abs=1e-12)
    assert hi == pytest.approx((below + zeros).mean() + q * (below + zeros).std(ddof=1), abs=1e-12)
    assert_holds(sd, lam)
    assert np.trapezoid(sd.density, sd.grid) == pytest.approx(1.0, abs=1e-3)


def test_zero_matrix():
    sd = spectral_density(
        DenseOperator(torch.zeros(50, 50, dtype=torch.float64)), num_starts=2, lanczos_steps=80
    )
    assert sd.products == 2 and sd.nodes == [[0.0], [0.0]]
    assert sd.negative_fraction_interval == (0.0, 0.0) and sd.negative_mass_interval == (0.0, 0.0)
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
    assert_holds(sd, lam)
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


# ---- the negative share and mass against dense spectra (issue 20: a share of 6.5% ± 0.2%
# was printed for a Hessian with 43.7% of its eigenvalues below 0) ----


def random_with_null_space(p=500, null=150, shift=0.5, seed=11):
    """P (W + shift·I) P for a Wigner W (semicircle on [−2, 2]) and the projector P off a
    random null-dimensional subspace: a continuous spectrum through 0 and `null` exact zeros."""
    g = torch.Generator().manual_seed(seed)
    G = torch.randn(p, p, generator=g, dtype=torch.float64)
    W = (G + G.T) / math.sqrt(2 * p) + shift * torch.eye(p, dtype=torch.float64)
    Z, _ = torch.linalg.qr(torch.randn(p, null, generator=g, dtype=torch.float64))
    P = torch.eye(p, dtype=torch.float64) - Z @ Z.T
    A = P @ W @ P
    return 0.5 * (A + A.T)


def tiny_cnn_hessian():
    """A ReLU CNN's dense Hessian (p = 553) on 32 random 8×8 images, 3 classes."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 6, 3), nn.ReLU(), nn.Flatten(),
        nn.Linear(96, 3),
    )  # fmt: skip
    x = torch.randn(32, 1, 8, 8, generator=g)
    y = torch.randint(0, 3, (32,), generator=g)
    problem = build_problem(model, x, y, get_loss("cross-entropy"), batch_size=32)
    return dense_hessian(problem)


@pytest.fixture(scope="module")
def dense_models(mlp_hessian):
    """Three models' dense matrices with their float64 spectra: the tanh MLP classifier of
    conftest (p = 1436), a random indefinite matrix with 150 exact zeros (p = 500) and a ReLU
    CNN (p = 553, exact zeros from dead units)."""
    mats = {"mlp": mlp_hessian, "null-space": random_with_null_space(), "cnn": tiny_cnn_hessian()}
    return {k: (A, torch.linalg.eigvalsh(A).numpy()) for k, A in mats.items()}


@pytest.mark.parametrize("steps", [20, 80, 200])
@pytest.mark.parametrize("model", ["mlp", "null-space", "cnn"])
def test_interval_holds_the_dense_truth(dense_models, model, steps):
    A, lam = dense_models[model]
    sd = spectral_density(DenseOperator(A), num_starts=8, lanczos_steps=steps, seed=0)
    assert_holds(sd, lam)
    # not trivially so: the bounds are informative (measured widths 0.50 to 0.80 at 20 steps,
    # 0.32 to 0.42 at 200; the zeros, 2% to 30% of each spectrum, count as either sign)
    lo, hi = sd.negative_fraction_interval
    assert hi - lo < (0.85 if steps == 20 else 0.6)


def test_interval_narrows_with_steps_on_a_separated_spectrum():
    """A gap around 0 (20% in [−3, −1], 80% in [1, 4]): Ritz values crowd the gap's edges, the
    weights of the nodes next to 0 shrink, and the quadrature's part of the interval closes
    (measured: 0.58, 0.13, 0.11, 0.038, 0.008 at 4 to 64 steps); what stays is the sampling
    over 8 starts (a start's own share varies by ~0.03 around the 0.2)."""
    rng = np.random.default_rng(12)
    lam = np.concatenate([rng.uniform(-3, -1, 80), rng.uniform(1, 4, 320)])
    op = DenseOperator(with_spectrum(lam, seed=12))
    widths, gaps = [], []
    for steps in (4, 8, 16, 32, 64):
        sd = spectral_density(op, num_starts=8, lanczos_steps=steps, seed=1)
        assert_holds(sd, lam)
        lo, hi = sd.negative_fraction_interval
        widths.append(hi - lo)
        per_start = [
            start_bounds(np.asarray(t), np.asarray(w), False, sd.zero_tol, sd.lambda_min)
            for t, w in zip(sd.nodes, sd.weights, strict=True)
        ]
        gaps.append(np.mean([b[1] - b[0] for b in per_start]))
    assert all(b < a for a, b in zip(gaps, gaps[1:])), gaps
    assert gaps[-1] < 0.02 and widths[-1] < 0.1, (gaps, widths)
    assert widths[0] > 0.5 and widths[2] < 0.2 and widths[-1] < widths[2], widths


def start_measure(A, q):
    """The exact spectral measure of the unit start q: eigenvalues and weights (qᵀu_k)²."""
    lam, U = eigh(A.numpy())
    return lam, (U.T @ q.numpy()) ** 2


@pytest.mark.parametrize("m", [3, 10, 40])
def test_quadrature_bounds_hold_for_every_start(dense_models, hessian_like, m):
    """Chebyshev-Markov-Stieltjes, deterministically, per start: lo(t) ≤ μ((−∞, t)) and
    μ((−∞, t]) ≤ hi(t) at every t (nodes, eigenvalues, points between), and the mass bounds;
    the plain Gauss CDF Σ_{θ≤t} w is not a bound (it falls on both sides of μ)."""
    g = torch.Generator().manual_seed(m)
    two_sided = 0
    for A in (hessian_like[0], dense_models["null-space"][0], dense_models["cnn"][0]):
        p = A.shape[0]
        starts = [torch.randint(0, 2, (p,), generator=g).double() * 2 - 1 for _ in range(3)]
        starts.append(torch.randn(p, generator=g, dtype=torch.float64))
        for q in starts:
            q = q / q.norm()
            alpha, beta, _ = _lanczos_block(DenseOperator(A), q[:, None].contiguous(), m)
            theta, V = eigh_tridiagonal(alpha[:, 0], beta[:, 0])
            w = V[0] ** 2 / (V[0] ** 2).sum()
            lam, mu = start_measure(A, q)
            scale = np.abs(lam).max()
            d = 1e-9 * scale  # rounding: a node equal to an eigenvalue may land either side
            t = np.concatenate([theta, theta - d, theta + d, lam, (theta[1:] + theta[:-1]) / 2])
            lo, hi = cdf_bounds(theta, w, t)
            below = (lam[None, :] < (t + d)[:, None]) @ mu  # μ((−∞, t + d))
            upto = (lam[None, :] <= (t - d)[:, None]) @ mu  # μ((−∞, t − d])
            assert np.all(lo <= below + 1e-10) and np.all(upto <= hi + 1e-10)
            gauss = (theta[None, :] <= t[:, None]) @ w
            exact = (lam[None, :] <= t[:, None]) @ mu
            two_sided += np.any(gauss > exact + 1e-3) and np.any(gauss < exact - 1e-3)
            tol = math.sqrt(np.finfo(float).eps) * scale
            s_lo, s_hi, m_lo, m_hi = start_bounds(theta, w, False, tol, lam[0])
            assert s_lo <= mu[lam < -tol].sum() + 1e-10 and mu[lam < tol].sum() <= s_hi + 1e-10
            mass = np.dot(mu, np.maximum(-lam, 0))
            assert m_lo <= mass + 1e-12 and mass <= m_hi + 1e-12
    assert two_sided >= 6


def test_psd_operator_has_no_negative_share():
    """A PSD operator (GGN, Fisher) with a null space: the rule's nodes scatter around 0 at
    roundoff level, yet nothing is negative by construction."""
    rng = np.random.default_rng(13)
    lam = np.concatenate([np.zeros(100), rng.uniform(0.1, 3.0, 200)])
    sd = spectral_density(DenseOperator(with_spectrum(lam, 13), psd=True), 8, 30)
    assert sd.psd and sd.negative_fraction_interval == (0.0, 0.0)
    assert sd.negative_mass_interval == (0.0, 0.0)


def test_terminal_prints_the_interval_and_no_point(hessian_like):
    """The report prints the interval's ends rounded outwards, says when it is not resolved,
    and prints no '±'."""
    from landscape.render.terminal.spectrum import density_lines

    A, lam = hessian_like
    wide = spectral_density(DenseOperator(A), num_starts=8, lanczos_steps=6, seed=0)
    narrow = spectral_density(DenseOperator(A), num_starts=8, lanczos_steps=60, seed=0)
    for sd in (wide, narrow):
        text = "\n".join(density_lines(sd))
        lo, hi = sd.negative_fraction_interval
        assert (
            f"between {math.floor(1000 * lo) / 10:.1f}% and {math.ceil(1000 * hi) / 10:.1f}%"
            in text
        )
        assert "±" not in text
        assert ("not resolved" in text) == (hi - lo > 0.5), text
    assert wide.negative_fraction_interval[1] - wide.negative_fraction_interval[0] > 0.5
