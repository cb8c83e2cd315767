"""Sharpness figures against closed forms (linear least squares: the loss is exactly quadratic)
and Adam-state figures against dense float64 truths."""

import copy
import itertools
import json
import math

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from landscape.analyses import sharpness as S
from landscape.analyses.sharpness import (
    AdamStateError,
    adam_state,
    analyse_adam,
    optimizer_state_of,
    threshold,
)
from landscape.api.settings import settings_for
from landscape.cli import app
from landscape.curvature import HessianOperator
from landscape.errors import InputError
from landscape.estimators.trace import diag_pp, hutchinson_diagonal
from landscape.losses import get_loss
from landscape.problem import build_problem
from sample_models.mlp import build
from tests.dense import dense_hessian, mlp


# ------------------------------------------------------------------------ linear models
def linear_problem(X, Y, W, batch_size=None):
    """mse of z = Wx: L = (1/NC)Σ‖Wx_i − y_i‖², H = (2/NC)·I_C ⊗ XᵀX (θ = W row by row)."""
    model = nn.Linear(X.shape[1], W.shape[0], bias=False).double()
    with torch.no_grad():
        model.weight.copy_(W)
    return build_problem(model, X, Y, get_loss("mse"), batch_size=batch_size)


def linear_hessian(X, C):
    N = X.shape[0]
    return torch.block_diag(*[2 * X.T @ X / (N * C)] * C)


def generic_linear(seed=0, N=40, d=5, C=3):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(N, d, generator=g, dtype=torch.float64)
    Y = torch.randn(N, C, generator=g, dtype=torch.float64)
    W = torch.randn(C, d, generator=g, dtype=torch.float64)
    return X, Y, W


def diagonal_linear(at_minimum=False):
    """X = diag(s) stacked twice (orthogonal columns): H = 2·diag(2s²)/N is diagonal.
    `at_minimum`: the residual vanishes exactly except on the first coordinate's rows, so
    every other gradient entry is exactly 0 (a problem with g = 0 everywhere is refused)."""
    s = torch.tensor([1.0, 2.0, 3.0, 0.5, 1.5, 2.5], dtype=torch.float64)
    X = torch.cat([torch.diag(s), torch.diag(s)])
    w_star = torch.tensor([1.0, -2.0, 0.0, 3.0, -1.0, 2.0], dtype=torch.float64)
    Y = (X @ w_star).reshape(-1, 1)  # small integers: the residual at w* is exactly 0
    if at_minimum:
        Y[0] += 1.0
        W = w_star.reshape(1, -1)
    else:
        Y = Y + torch.linspace(-1, 1, len(Y), dtype=torch.float64).reshape(-1, 1)
        W = w_star.reshape(1, -1) + 0.3
    return X, Y, W


def closed_form_box_max(problem, radius):
    """max over the box of gᵀδ + ½δᵀHδ for diagonal H ⪰ 0: Σ |g_i| r_i + ½ H_ii r_i²."""
    g = problem.gradient()
    h = dense_hessian(problem).diagonal()
    return float((g.abs() * radius + 0.5 * h * radius**2).sum())


# --------------------------------------------------------------------------- ε-sharpness
@pytest.mark.parametrize("at_minimum", [False, True])
def test_eps_sharpness_matches_closed_form_of_a_diagonal_quadratic(at_minimum):
    problem = linear_problem(*diagonal_linear(at_minimum))
    if at_minimum:
        assert int((problem.gradient() == 0).sum()) == 5  # the random-side start is used
    eps = 1e-2
    settings = settings_for("sharpness", problem.num_params, eps_sharpness=eps, ascent_steps=20)
    report = S.analyse_sharpness(problem, settings, parts={"eps"})
    radius = eps * (problem.flat_params().abs() + 1)
    exact = closed_form_box_max(problem, radius)
    loss = problem.loss_at()
    e = report.eps_sharpness
    assert e.ascent.kkt
    assert e.increase == pytest.approx(exact, rel=1e-10)
    assert e.percent == pytest.approx(100 * exact / (1 + loss), rel=1e-10)
    assert report.metrics["eps_sharpness"].value == e.percent
    assert report.metrics["eps_sharpness"].error_bound is None


def test_box_ascent_on_a_dense_quadratic_is_a_lower_bound_close_to_the_vertex_max():
    """Convex quadratic: the max over the box is at a vertex; enumerate all 2^6 of them."""
    X, Y, W = generic_linear(seed=3, N=12, d=6, C=1)
    problem = linear_problem(X, Y, W)
    H = dense_hessian(problem)
    g = problem.gradient()
    radius = 0.3 * (problem.flat_params().abs() + 1)
    best = max(
        float(g @ d + 0.5 * d @ H @ d)
        for signs in itertools.product((-1.0, 1.0), repeat=6)
        for d in [torch.tensor(signs, dtype=torch.float64) * radius]
    )
    result = S.box_ascent(
        problem.loss_and_gradient,
        problem.flat_params(),
        radius,
        30,
        torch.Generator().manual_seed(0),
    )
    assert result.increase <= best * (1 + 1e-12)
    assert result.increase >= 0.9 * best


def test_adaptive_sharpness_is_the_mean_of_per_batch_maxima():
    """m-sharpness: each batch of m examples gets its own box maximum (closed form here)."""
    X, Y, W = diagonal_linear()
    problem = linear_problem(X, Y, W)
    rho, m = 0.05, 4
    settings = settings_for("sharpness", problem.num_params, rho=rho, chunk_size=m, ascent_steps=20)
    report = S.analyse_sharpness(problem, settings, parts={"adaptive"})
    radius = rho * problem.flat_params().abs()
    parts = problem.subsets(m)
    assert [p.num_samples for p in parts] == [4, 4, 4]
    exact = sum(closed_form_box_max(p, radius) * p.num_samples for p in parts) / len(X)
    a = report.adaptive_sharpness
    assert a.chunks == 3 and a.kkt_fraction == 1.0
    assert a.value == pytest.approx(exact, rel=1e-10)


# --------------------------------------------------------------------- average sharpness
def test_average_sharpness_matches_half_rho2_theta2_diag_h_within_its_stderr():
    X, Y, W = generic_linear(seed=1)
    problem = linear_problem(X, Y, W)
    rho = 0.2
    theta = problem.flat_params()
    truth = float(0.5 * rho**2 * (theta**2 * linear_hessian(X, 3).diagonal()).sum())
    z = []
    for seed in range(8):
        settings = settings_for(
            "sharpness", problem.num_params, avg_rho=rho, avg_samples=64, seed=seed
        )
        a = S.analyse_sharpness(problem, settings, parts={"average"}).average_sharpness
        assert a.stderr > 0
        z.append((a.value - truth) / a.stderr)
    z = np.array(z)
    assert np.all(np.abs(z) < 3.5), z
    assert np.mean(z**2) < 3.0, z  # the stderr is not too small


# ------------------------------------------------------------------ curvature and slices
def test_lambda_max_min_trace_match_the_closed_form_hessian():
    X, Y, W = generic_linear(seed=2)
    problem = linear_problem(X, Y, W, batch_size=16)
    settings = settings_for("sharpness", problem.num_params, k=2, trace_samples=100, lr=0.5)
    report = S.analyse_sharpness(problem, settings, parts={"top", "bottom", "trace"})
    sv = torch.linalg.svdvals(X)
    N, C = X.shape[0], 3
    lam_max, lam_min = float(2 * sv[0] ** 2 / (N * C)), float(2 * sv[-1] ** 2 / (N * C))
    m = report.metrics
    assert abs(m["lambda_max"].value - lam_max) <= m["lambda_max"].error_bound + 1e-12
    assert abs(m["lambda_min"].value - lam_min) <= m["lambda_min"].error_bound + 1e-12
    assert m["trace"].value == pytest.approx(float(2 * (X**2).sum() / N), rel=1e-10)  # exact
    assert m["trace_per_param"].value == pytest.approx(m["trace"].value / 15)
    assert m["stability_margin"].value == pytest.approx(0.5 * lam_max / 2, rel=1e-8)
    assert report.stability.edge == pytest.approx(2 / lam_max, rel=1e-8)


def test_stability_verdicts():
    pair = S.Eigenpair(value=10.0, error_bound=1e-9, converged=True)
    assert S.stability_of(pair, 0.3, "--lr").verdict.startswith("beyond the edge of stability")
    assert S.stability_of(pair, 0.19, "--lr").verdict.startswith("at the edge")
    assert S.stability_of(pair, 0.01, "--lr").verdict.startswith("stable")
    negative = S.Eigenpair(value=-1.0, error_bound=0.0, converged=True)
    assert S.stability_of(negative, 0.1, "--lr").edge is None


def test_eigen_slice_of_a_quadratic_is_its_quadratic_model():
    X, Y, W = generic_linear(seed=4)
    problem = linear_problem(X, Y, W)
    settings = settings_for("sharpness", problem.num_params, k=1, slice_points=9, slice_radius=0.5)
    report = S.analyse_sharpness(problem, settings, parts={"slices"})
    eigen = [s for s in report.slices if s.kind == "eigenvector"][0]
    np.testing.assert_allclose(eigen.loss, eigen.quadratic, rtol=1e-10)
    assert len([s for s in report.slices if s.kind == "filter-normalised"]) == 2


def test_float32_agrees_with_float64():
    X, Y, W = generic_linear(seed=5)
    settings = settings_for("sharpness", W.numel(), k=1, slice_points=5, avg_samples=4)
    parts = {"slices", "eps", "adaptive", "average", "trace"}
    reports = []
    for dtype in (torch.float32, torch.float64):
        model = nn.Linear(X.shape[1], 3, bias=False)
        with torch.no_grad():
            model.weight.copy_(W)
        problem = build_problem(model, X, Y, get_loss("mse"), dtype=dtype)
        reports.append(S.analyse_sharpness(problem, settings, parts=parts).metrics)
    for name, metric in reports[1].items():
        assert reports[0][name].value == pytest.approx(metric.value, rel=1e-4, abs=1e-6), name


def test_filter_normalised_direction_matches_filter_norms_and_skips_biases():
    model = mlp((4, 6, 3), seed=0).double()
    x, y = torch.randn(5, 4, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1])
    problem = build_problem(model, x, y, get_loss("cross-entropy"))
    d = problem.unflatten(S.filter_normalised_direction(problem, torch.Generator().manual_seed(0)))
    for p, dp in zip(problem.params, d):
        if p.ndim == 2:
            torch.testing.assert_close(dp.norm(dim=1), p.norm(dim=1))
        else:
            assert float(dp.abs().max()) == 0.0


def conv_problem(conv=nn.Conv2d, n=6, size=5, channels=3, classes=2, seed=0):
    """A small conv net conv(1 → channels, kernel 3) → tanh → flatten → Linear, in float64,
    on n random inputs of side `size` (as many spatial dims as the conv has)."""
    dims = {nn.Conv1d: 1, nn.Conv2d: 2, nn.Conv3d: 3}[conv]
    torch.manual_seed(seed)
    model = nn.Sequential(
        conv(1, channels, 3),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(channels * (size - 2) ** dims, classes),
    ).double()
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, *[size] * dims, generator=g, dtype=torch.float64)
    y = torch.randint(0, classes, (n,), generator=g)
    return model, x, y, build_problem(model, x, y, get_loss("cross-entropy"))


@pytest.mark.parametrize("conv", [nn.Conv1d, nn.Conv2d, nn.Conv3d])
def test_filter_normalised_direction_of_a_conv_net_matches_each_filters_norm(conv):
    """Li et al. 2018: filter i of a weight (out, in, k...) is the slice [i]; its norm runs
    over the input channels and the kernel taps together, and d_i is the Gaussian draw's
    filter g_i times one scalar (a finer rescaling, e.g. per kernel row, would also match
    the filter norms)."""
    _, _, _, problem = conv_problem(conv)
    d = problem.unflatten(S.filter_normalised_direction(problem, torch.Generator().manual_seed(1)))
    gen = torch.Generator().manual_seed(1)  # the same Gaussian draws, parameter by parameter
    draws = [torch.randn(p.shape, generator=gen, dtype=torch.float64) for p in problem.params]
    ranks = []
    for p, dp, g in zip(problem.params, d, draws, strict=True):
        ranks.append(p.ndim)
        if p.ndim == 1:
            assert float(dp.abs().max()) == 0.0  # biases get no component
            continue
        for i in range(p.shape[0]):
            theta_i, g_i, d_i = (t[i].reshape(-1).tolist() for t in (p, g, dp))
            norm_theta = math.sqrt(sum(v * v for v in theta_i))
            norm_g = math.sqrt(sum(v * v for v in g_i))
            assert abs(math.sqrt(sum(v * v for v in d_i)) - norm_theta) <= 1e-12 * norm_theta
            for dv, gv in zip(d_i, g_i, strict=True):
                assert abs(dv - gv * norm_theta / norm_g) <= 1e-12 * norm_theta, (p.shape, i)
    assert ranks == [2 + {nn.Conv1d: 1, nn.Conv2d: 2, nn.Conv3d: 3}[conv], 1, 2, 1]


def test_sharpness_of_a_conv_net_completes_and_its_slices_start_at_the_loss():
    model, x, y, problem = conv_problem(nn.Conv2d, n=36, size=6, channels=2, classes=3)
    with torch.no_grad():
        truth = float(nn.functional.cross_entropy(model(x), y))
    settings = settings_for(
        "sharpness",
        problem.num_params,
        k=1,
        trace_samples=6,
        ascent_steps=3,
        chunk_size=12,
        avg_samples=2,
        slice_points=5,
    )
    report = S.analyse_sharpness(problem, settings)
    assert report.loss == pytest.approx(truth, abs=1e-10)
    for name in ("lambda_max", "lambda_min", "trace", "eps_sharpness", "average_sharpness"):
        assert math.isfinite(report.metrics[name].value), name
    random = [s for s in report.slices if s.kind == "filter-normalised"]
    assert len(random) == 2
    for s in random:
        assert 0.0 in s.t  # (the even grid, refined where the curve bends)
        assert abs(s.loss[s.t.index(0.0)] - truth) <= 1e-10
        assert all(math.isfinite(v) for v in s.loss)
        assert max(s.loss) - min(s.loss) > 1e-6  # the direction moves the conv weights


# ------------------------------------------------------------------------------- Adam
MLP_KWARGS = {"in_features": 4, "hidden": [8], "classes": 3}


def adam_trained(seed=0, steps=300, batch=16):
    """A small MLP trained by minibatch Adam (lr 0.01, default betas)."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(128, 4, generator=g, dtype=torch.float64)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long() + (x[:, 2] > 1).long()
    model = build(**MLP_KWARGS).double()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(steps):
        idx = torch.randint(0, 128, (batch,), generator=g)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
    return model, x, y, opt


@pytest.fixture(scope="module")
def trained():
    return adam_trained()


def test_adam_threshold_formula_and_its_derivation():
    assert threshold(0.9, 0.01) == pytest.approx(3800.0)
    assert threshold(0.0, 0.1) == pytest.approx(2 / 0.1)  # plain GD

    def grows(a, eta=0.01, beta=0.9, steps=4000):  # Adam's momentum recursion on a·x²/2
        x, m = 1.0, 0.0
        for _ in range(steps):
            m = beta * m + (1 - beta) * a * x
            x = x - eta * m
        return abs(x) > 1.0

    limit = threshold(0.9, 0.01)
    assert not grows(0.99 * limit) and grows(1.01 * limit)


def test_preconditioned_sharpness_matches_dense_and_sqrt_v_tracks_diag_h(trained):
    model, x, y, opt = trained
    problem = build_problem(model, x, y, get_loss("cross-entropy"))
    state = adam_state(problem, opt.state_dict())
    report = analyse_adam(HessianOperator(problem), state, 0.01, tol=1e-6, diag_samples=10**6)
    H = dense_hessian(problem)
    D = state.sqrt_v_hat + state.eps
    dense = float(torch.linalg.eigvalsh(H / D.sqrt()[:, None] / D.sqrt()[None, :])[-1])
    pair = report.preconditioned
    assert pair.converged
    assert abs(pair.value - dense) <= pair.error_bound + 1e-9 * dense
    assert report.margin == pytest.approx(pair.value / 3800.0)
    assert report.fit.exact
    torch.testing.assert_close(report.fit.diag_h, H.diagonal())
    assert report.fit.rank_correlation > 0.2  # source text 003: √v̂ tracks |diag H|
    assert report.fit.scale > 0


def test_diag_pp_is_unbiased_and_beats_plain_hutchinson(trained):
    model, x, y, _ = trained
    problem = build_problem(model, x, y, get_loss("cross-entropy"))
    op = HessianOperator(problem)
    exact = dense_hessian(problem).diagonal()
    z2, err_pp, err_h = [], [], []
    for seed in range(6):
        est, stderr = diag_pp(op, 30, seed=seed)
        z2.append(float((((est - exact) / stderr) ** 2).mean()))
        err_pp.append(float((est - exact).norm()))
        err_h.append(float((hutchinson_diagonal(op, 30, seed=seed)[0] - exact).norm()))
    assert 0.3 < np.mean(z2) < 3.0, z2  # errors match their standard errors
    assert np.mean(err_pp) < 0.8 * np.mean(err_h), (err_pp, err_h)


def test_adam_state_maps_selected_parameters_and_named_groups(trained):
    model, x, y, opt = trained
    model = copy.deepcopy(model)
    problem = build_problem(model, x, y, get_loss("cross-entropy"), params=r"^out\.")
    state = adam_state(problem, opt.state_dict())
    raw = opt.state_dict()["state"]
    expected = torch.cat(
        [(raw[i]["exp_avg_sq"] / (1 - 0.999**300)).sqrt().reshape(-1) for i in (2, 3)]
    )  # parameters(): hidden.0.w/b, out.w/b
    torch.testing.assert_close(state.sqrt_v_hat, expected)
    # Groups out of model order map correctly only through param_names.
    named = list(model.named_parameters())
    for _, p in named:
        p.requires_grad_(True)  # build_problem switched them off
    shuffled = torch.optim.Adam([{"params": named[2:]}, {"params": named[:2]}], lr=0.01)
    model.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    shuffled.step()
    full = build_problem(model, x, y, get_loss("cross-entropy"))
    mapped = adam_state(full, shuffled.state_dict())
    first = shuffled.state_dict()["state"][2]["exp_avg_sq"]  # group 2 holds hidden.0.weight
    torch.testing.assert_close(
        mapped.sqrt_v_hat[: first.numel()], (first / (1 - 0.999)).sqrt().reshape(-1)
    )
    anonymous = shuffled.state_dict()
    for group in anonymous["param_groups"]:
        del group["param_names"]
    with pytest.raises(AdamStateError, match="shape"):
        adam_state(full, anonymous)


def test_metadata_without_adam_state_leaves_adam_metrics_out():
    problem = linear_problem(*generic_linear())
    report = S.analyse_sharpness(
        problem,
        settings_for("sharpness", problem.num_params),
        parts={"adam_eigen"},
        optimizer=optimizer_state_of({"lr": 0.1}),
    )
    assert "preconditioned_sharpness" not in report.metrics
    assert "no optimizer state" in report.unavailable["preconditioned_sharpness"]
    assert "no learning rate" in report.unavailable["stability_margin"]


# -------------------------------------------------------------------------------- CLI
def save_checkpoint(folder, model, x, y, loss, **metadata):
    torch.save({"x": x, "y": y}, folder / "data.pt")
    torch.save(
        {"state_dict": model.state_dict(), "loss": loss, "data": "data.pt", **metadata},
        folder / "model.pt",
    )
    return folder / "model.pt"


@pytest.fixture
def adam_checkpoint(tmp_path, monkeypatch, trained):
    monkeypatch.chdir(tmp_path)
    model, x, y, opt = trained
    return save_checkpoint(
        tmp_path,
        model,
        x,
        y,
        "cross-entropy",
        lr=0.01,
        optimizer=opt.state_dict(),
        factory="sample_models.mlp:build",
        factory_kwargs=MLP_KWARGS,
    )


def test_cli_json_holds_every_metric_and_out_writes_the_files(adam_checkpoint, tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "sharpness",
            str(adam_checkpoint),
            "--trust-checkpoint",
            "--json",
            "--avg-samples",
            "8",
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for name in S.METRICS:
        entry = data["metrics"][name]
        assert set(entry) >= {"value", "error_bound"} and math.isfinite(entry["value"])
    assert data["stability"]["lr_source"] == "checkpoint metadata"
    assert data["adam"]["threshold"] == pytest.approx(3800.0)
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["report.json", "slices.png", "spectrum.png"]


def test_cli_rejects_bad_options(adam_checkpoint):
    runner = CliRunner()
    for args, text in (
        (["--eps-sharpness", "-1"], "--eps-sharpness"),
        (["--avg-samples", "1"], "--avg-samples"),
        (["--lr", "0"], "--lr"),
    ):
        result = runner.invoke(
            app, ["sharpness", str(adam_checkpoint), "--trust-checkpoint", *args]
        )
        assert isinstance(result.exception, InputError), result.output
        assert text in str(result.exception)
