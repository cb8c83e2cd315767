"""The bottom of a PSD curvature (GGN, Fisher, empirical Fisher) that reaches 0: a softmax
output layer gives G hidden + 1 exact zeros (shifting every logit alike), which one Krylov space
holds one copy of, so the solver's "i-th smallest" Ritz value θ_i ± r_i can be the wrong rank.
`spectrum` reports the Courant–Fischer interval [0, μ_i] that holds the i-th smallest whatever
the multiplicities; checked against dense float64 eigenvalues."""

from __future__ import annotations

import json

import default_models
import pytest
import torch
from cli import run
from dense import classification_problem, dense_empirical_fisher, dense_ggn
from torch.func import functional_call, jacrev

from landscape.analyses.spectrum import analyse_spectrum
from landscape.api.settings import settings_for
from landscape.curvature import make_operator
from landscape.estimators.lanczos import extreme_eigenpairs
from landscape.estimators.psd import courant_fischer
from landscape.losses import get_loss
from landscape.problem import build_problem, unflatten


def test_courant_fischer_bounds_the_ith_smallest_on_any_subspace():
    """μ_i ≥ λ_i on any i-dimensional span, with λ_i repeated; equal on eigenvectors."""
    g = torch.Generator().manual_seed(0)
    lam = torch.tensor([0.0] * 4 + [1e-3] * 3 + torch.linspace(0.01, 1, 33).tolist()).double()
    Q, _ = torch.linalg.qr(torch.randn(40, 40, generator=g, dtype=torch.float64))
    A = (Q * lam) @ Q.T
    X = torch.randn(40, 8, generator=g, dtype=torch.float64)
    mu = courant_fischer(X, A @ X)
    assert all(m >= float(v) - 1e-15 for m, v in zip(mu, lam, strict=False))
    assert mu == sorted(mu)  # the spans are nested
    exact = courant_fischer(Q[:, :8], A @ Q[:, :8])
    assert exact == pytest.approx(lam[:8].tolist(), abs=1e-14)


CASES = [("ggn", 60), ("fisher", 60), ("ef", 80)]  # p = 67 ≤ the rank bound (120, 120, 80)


@pytest.mark.parametrize(("curvature", "n"), CASES)
@pytest.mark.parametrize("k", [5, 12])
def test_each_listed_interval_holds_the_ith_smallest(curvature, n, k):
    problem = classification_problem(n=n, sizes=(4, 8, 3), seed=2)
    op = make_operator(curvature, problem)
    assert op.rank_bound() >= problem.num_params  # the rank rule promises no zeros
    exact = torch.linalg.eigvalsh(
        (dense_empirical_fisher if curvature == "ef" else dense_ggn)(problem)
    )
    scale = float(exact[-1])
    assert int((exact < 1e-14 * scale).sum()) == 9  # 8 hidden units + 1: the softmax's shifts
    plain = extreme_eigenpairs(op, 2, k, tol=1e-6)  # one Krylov space: a wrong rank
    assert any(abs(e.value - float(lam)) > e.error_bound for e, lam in zip(plain.bottom, exact))
    report = analyse_spectrum(problem, op, settings_for("spectrum", problem.num_params, k=k))
    assert report.bottom_intervals and "lies in [0, μ_i]" in report.bottom_note
    assert 1 <= len(report.bottom) <= k
    if len(report.bottom) < k:
        assert f"only {len(report.bottom)} listed" in report.bottom_note
    for e, lam in zip(report.bottom, exact, strict=False):  # the i-th smallest, rank for rank
        assert e.converged and e.value == e.error_bound <= 1e-6 * scale
        assert abs(e.value - float(lam)) <= e.error_bound + 1e-15 * scale
    for e, lam in zip(report.top, exact.flip(0), strict=False):
        assert abs(e.value - float(lam)) <= e.error_bound + 1e-12 * scale
    assert report.condition.condition_number is None


def test_a_bottom_clear_of_zero_keeps_its_ritz_pairs():
    """mse: G has no shift directions; its bottom (from 2.8e-5) is certified as Ritz pairs."""
    problem = classification_problem(n=200, sizes=(4, 3, 3), loss="mse", seed=1)
    op = make_operator("ggn", problem)
    report = analyse_spectrum(problem, op, settings_for("spectrum", problem.num_params, k=3))
    exact = torch.linalg.eigvalsh(dense_ggn(problem))
    assert not report.bottom_intervals and report.bottom_note is None
    for e, lam in zip(report.bottom, exact, strict=False):
        assert e.converged and abs(e.value - float(lam)) <= e.error_bound + 1e-12
        assert e.error_bound < 1e-3 * float(lam)  # a point value, not a [0, μ] interval


def _dense_ggn_softmax(model, x) -> torch.Tensor:
    """G = (1/N) Σ J_iᵀ (diag p_i − p_i p_iᵀ) J_i in float64 (J by jacrev)."""
    problem = build_problem(model.double(), x, torch.zeros(len(x)).long(), get_loss("ce"))

    def outputs(flat):
        params = dict(zip(problem.names, unflatten(flat, problem.params), strict=True))
        return functional_call(problem.model, params, (x,))

    theta = problem.flat_params()
    J = jacrev(outputs)(theta)
    p = torch.softmax(outputs(theta).detach(), dim=1)
    HL = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    return torch.einsum("ncp,ncd,ndq->pq", J, HL, J) / len(x)


@pytest.fixture(scope="module")
def trained_mlp(tmp_path_factory):
    """The 610-parameter tanh MLP trained on 300 8×8 digits, and its G's dense eigenvalues:
    9 exact zeros, then 1.3e-7 (which a plain solve listed as the 2nd smallest)."""
    args, _ = default_models.save("mlp", tmp_path_factory.mktemp("mlp"))
    model = default_models.build_mlp()
    model.load_state_dict(torch.load(args[0]))
    exact = torch.linalg.eigvalsh(_dense_ggn_softmax(model, torch.load(args[4])["x"].double()))
    assert int((exact < 1e-14 * exact[-1]).sum()) == 9 and float(exact[9]) > 1e-7
    return args, exact


@pytest.mark.parametrize("extra", [[], ["--multiplicity-check", "--curvature", "fisher"]])
def test_the_cli_reports_intervals_that_hold_the_dense_truth(
    trained_mlp, extra, capsys, monkeypatch
):
    args, exact = trained_mlp
    options = ["--curvature", "ggn", "--k", "3", "--dtype", "float32", *extra]
    r = run(["spectrum", *args, *options, "--json"], capsys, monkeypatch)
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["bottom_intervals"] is True and "[0, μ_i]" in report["bottom_note"]
    scale = float(exact[-1])
    for e, lam in zip(report["bottom"], exact, strict=False):
        assert e["converged"] and e["value"] == e["error_bound"] <= report["solver"]["tol"] * scale
        assert abs(e["value"] - float(lam)) <= e["error_bound"] + 1e-15 * scale
    text = run(["spectrum", *args, *options], capsys, monkeypatch)
    assert text.code == 0, text.err
    assert "i-th smallest lies in" in text.out and "λ_min            in [0, " in text.out
    upper = report["bottom"][0]["value"] + report["bottom"][0]["error_bound"]
    assert f"[0, {upper:.3g}]" in text.out


@pytest.mark.parametrize(
    ("curvature", "k", "extra"),
    [
        ("ggn", 12, {"max_products": 40}),  # a capped solve, its re-solve and the intervals
        ("hessian", 3, {"trace": True, "density": True, "per_layer": True, "density_starts": 2}),
        ("ef", 5, {"multiplicity_check": True}),
    ],
)
def test_the_progress_bound_holds_every_product(curvature, k, extra):
    """The spectrum's progress total is `product_bound`: it used to be the cap alone (or
    1,000) and showed 1419/1000; a capped run with a re-solve takes more than its cap."""
    from landscape.analyses.spectrum import product_bound

    problem = classification_problem(n=60, sizes=(4, 8, 3), seed=2)
    op = make_operator(curvature, problem)
    settings = settings_for("spectrum", problem.num_params, k=k, **extra)
    seen = []
    report = analyse_spectrum(problem, op, settings, progress=lambda _stage, n: seen.append(n))
    bound = product_bound(problem, settings)
    assert report.products == op.calls and max(seen, default=0) <= report.products <= bound
    if "max_products" in extra:
        assert report.products > extra["max_products"]  # the old total was exceeded
