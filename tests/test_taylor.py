"""`landscape taylor-check`: residual orders against closed forms and dense float64 truths."""

import json
import math
import re

import numpy as np
import pytest
import taylor_models
import torch
from cli import run
from dense import classification_problem, dense_ggn, dense_hessian, flat_loss_fn, mlp
from torch import nn
from typer.testing import CliRunner

from landscape.analyses.taylor import (
    DIRECTIONS,
    TaylorSettings,
    analyse_taylor,
    ecnoise,
    halving_steps,
    parse_sweep,
)
from landscape.cli import app
from landscape.curvature import DenseOperator, GGNOperator, HessianOperator
from landscape.errors import InputError
from landscape.losses import get_loss
from landscape.problem import build_problem


def check(problem, etas, directions=("gradient",), hessian=None, **kwargs):
    kwargs.setdefault("seed", 0)
    settings = TaylorSettings(etas=etas, directions=list(directions), **kwargs)
    hessian = hessian or HessianOperator(problem)
    return analyse_taylor(problem, hessian, GGNOperator(problem), settings)


def one(report, name="gradient"):
    return next(d for d in report.directions if d.name == name)


def linear_problem(loss="mse", n=50, dtype=torch.float64):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(n, 4, generator=g)
    y = torch.randn(n, 2, generator=g) if loss == "mse" else torch.randint(0, 3, (n,), generator=g)
    torch.manual_seed(0)
    model = nn.Linear(4, 2 if loss == "mse" else 3)
    return build_problem(model, x, y, get_loss(loss), dtype=dtype)


@pytest.fixture(scope="module")
def tanh_problem():
    return classification_problem(n=40, sizes=(4, 8, 3))


@pytest.fixture(scope="module")
def tanh_report(tanh_problem):
    return check(tanh_problem, halving_steps(1e-2, 12), DIRECTIONS)


# -- closed forms -----------------------------------------------------------------------------
def test_quadratic_loss_has_r2_hessian_at_round_off_for_every_step():
    """Linear model + MSE: L is exactly quadratic in θ, so ΔL = ηgᵀd + ½η²dᵀHd exactly."""
    report = check(linear_problem("mse"), parse_sweep("1e-6:1e-1:11"), ("gradient", "random"))
    assert report.passed
    for d in report.directions:
        assert all(s.regime_r2_hessian == "floor" for s in d.steps)
        assert all(s.r2_hessian < 30 * s.noise for s in d.steps)
        assert all(s.r2_hessian < 1e-14 for s in d.steps)
        checks = {c.residual: c for c in d.checks}
        assert checks["r2_hessian"].status == "exact" and d.order_r2_hessian is None
        assert checks["r2_ggn"].status == "exact"  # T = 0: G = H
        assert abs(d.order_r1 - 2.0) < 0.01  # R₁ = ½η²|dᵀHd| exactly
        assert d.r2_ggn_expected_order == 3
        assert d.m_over_6 is None


class Square(nn.Module):
    """z = x·w²: with MSE, ℓ = (x w² − y)², so L''' = mean(24 x² w) in closed form."""

    def __init__(self, w: float):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([w]))

    def forward(self, x):
        return x * self.w**2


def test_m_over_6_matches_a_known_third_derivative():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(30, 1, generator=g), torch.randn(30, 1, generator=g)
    w = 0.8
    problem = build_problem(Square(w), x, y, get_loss("mse"))
    third = float((24 * x.double() ** 2 * w).mean())  # d = ±1: ∂³L[d,d,d] = ±L'''
    d = one(check(problem, halving_steps(1e-3, 10)))
    assert d.passed and abs(d.order_r2_hessian - 3.0) < 0.05
    assert d.m_over_6_converged
    # R₂ᴴ/η³ = |L'''/6 ± ηL''''/24|: relative bias η/(4w) ≤ 3e-4 over the window
    assert d.m_over_6 == pytest.approx(abs(third) / 6, rel=2e-3)
    # and against the model: a wrong third derivative would be off by far more
    assert abs(d.m_over_6 - 1.1 * abs(third) / 6) > 0.05 * abs(third) / 6


def test_ecnoise_recovers_a_known_noise_level():
    rng = np.random.default_rng(0)
    t = np.arange(8) * 1e-3
    for sigma in (1e-12, 1e-8):
        levels = [
            ecnoise(1.0 + 0.3 * t + 2.0 * t**2 + sigma * rng.standard_normal(8)) for _ in range(40)
        ]
        found = [s for s, verdict in levels if verdict == "ok"]
        assert len(found) > 30
        assert 0.5 * sigma < np.median(found) < 2 * sigma
    assert ecnoise(np.full(8, 1.0))[1] == "h too small"
    assert ecnoise(np.exp(np.arange(8.0)))[1] == "h too large"


# -- dense truths on a smooth network ---------------------------------------------------------
def test_tanh_network_orders_two_and_three(tanh_report):
    assert tanh_report.passed
    assert [d.name for d in tanh_report.directions] == list(DIRECTIONS)
    for d in tanh_report.directions:
        assert d.status == "passed", d.reason
        assert abs(d.order_r1 - 2.0) < 0.1
        assert abs(d.order_r2_hessian - 3.0) < 0.1
        regimes = [s.regime_r2_hessian for s in d.steps]
        assert "asymptotic" in regimes and set(regimes) <= {"asymptotic", "floor", "non-asymptotic"}
        small = min(d.steps, key=lambda s: s.eta)
        assert small.regime_r2_hessian == "floor"  # 1e-2/4096: R₂ᴴ ~ η³ is below round-off


def test_decomposition_against_dense_matrices(tanh_problem, tanh_report):
    H, G = dense_hessian(tanh_problem), dense_ggn(tanh_problem)
    g = tanh_problem.gradient()
    for d in tanh_report.directions:
        v = _vector_of(tanh_problem, d, H)
        dec = d.decomposition
        assert dec.gradient == pytest.approx(float(g @ v), rel=1e-10, abs=1e-14)
        assert dec.half_hessian == pytest.approx(0.5 * float(v @ H @ v), rel=1e-9, abs=1e-13)
        assert dec.half_ggn == pytest.approx(0.5 * float(v @ G @ v), rel=1e-9, abs=1e-13)
        assert dec.half_nonlinearity == pytest.approx(
            0.5 * float(v @ (H - G) @ v), rel=1e-7, abs=1e-12
        )
        assert dec.gradient <= 0  # every built-in direction points downhill
    lam = torch.linalg.eigvalsh(H)
    top, bottom = one(tanh_report, "top-eigenvector"), one(tanh_report, "bottom-eigenvector")
    assert abs(top.eigenvalue - float(lam[-1])) <= top.eigenvalue_error_bound + 1e-12
    assert abs(bottom.eigenvalue - float(lam[0])) <= bottom.eigenvalue_error_bound + 1e-12
    assert top.decomposition.half_hessian == pytest.approx(0.5 * float(lam[-1]), rel=1e-3)


def _vector_of(problem, d, H):
    """d from the report, checked against how it was built (dense eigenvectors for the ends)."""
    v = d.vector
    assert float(v.norm()) == pytest.approx(1.0, abs=1e-12)
    g = problem.gradient()
    if d.name == "gradient":
        assert torch.allclose(v, -g / g.norm(), atol=1e-14)
    elif d.name != "random":
        _, Q = torch.linalg.eigh(H)
        q = Q[:, -1] if d.name == "top-eigenvector" else Q[:, 0]
        assert abs(float(q @ v)) > 1 - 1e-6
    return v


def test_m_over_6_matches_the_third_directional_derivative(tanh_problem, tanh_report):
    d = one(tanh_report)
    g = tanh_problem.gradient()
    v = -g / g.norm()
    f = flat_loss_fn(tanh_problem)
    theta = tanh_problem.flat_params()
    t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    value = f(theta + t * v)
    (d1,) = torch.autograd.grad(value, t, create_graph=True)
    (d2,) = torch.autograd.grad(d1, t, create_graph=True)
    (d3,) = torch.autograd.grad(d2, t)
    assert d.m_over_6 == pytest.approx(abs(float(d3)) / 6, rel=0.05)


def test_r2_ggn_has_order_two_where_t_is_nonzero(tanh_report):
    for d in tanh_report.directions:
        assert abs(d.decomposition.half_nonlinearity) > 1e-6
        assert d.r2_ggn_expected_order == 2
        assert abs(d.order_r2_ggn - 2.0) < 0.1
        assert d.passed  # order 2 of R₂ᴳ is expected, not a failure
        assert any("expected, not a failure" in n for n in d.notes)


def test_r2_ggn_has_order_three_where_t_is_zero():
    """Linear model + cross-entropy: z is linear in θ, so T = 0 and G = H, but L is not
    quadratic: R₂ᴳ = R₂ᴴ = O(η³)."""
    report = check(linear_problem("cross-entropy"), halving_steps(1e-2, 12), ("gradient", "random"))
    for d in report.directions:
        assert d.passed, d.reason
        assert d.r2_ggn_expected_order == 3
        assert abs(d.decomposition.half_nonlinearity) < 1e-12
        assert abs(d.order_r2_ggn - 3.0) < 0.1 and abs(d.order_r2_hessian - 3.0) < 0.1


# -- steps chosen per direction --------------------------------------------------------------
def test_chosen_steps_run_from_the_floor_to_the_third_order_term(tanh_problem):
    """Without given steps each direction's sweep reaches the round-off floor at its smallest
    step, gives R₂ᴴ a window of ≥ 4 steps a factor ≤ 2 apart, and ends above where R₂ᴴ's
    order leaves 3 (or at the lattice's top); the steps lie on η = 1e-3·2^(k/2)."""
    report = check(tanh_problem, None, DIRECTIONS)
    assert report.steps_chosen == "per direction" and report.etas == []
    for d in report.directions:
        assert d.status == "passed", d.reason
        low, top = d.steps[-1], d.steps[0]
        assert low.regime_r1 == "floor" and low.regime_r2_hessian == "floor"
        window = [s.eta for s in d.steps if s.regime_r2_hessian == "asymptotic"]
        assert len(window) >= 4
        assert all(a / b <= 2 + 1e-9 for a, b in zip(window, window[1:]))
        assert top.regime_r2_hessian == "non-asymptotic" or top.eta == pytest.approx(262.144)
        for s in d.steps:
            k = 2 * math.log2(s.eta / 1e-3)
            assert abs(k - round(k)) < 1e-9


def test_a_wrong_hessian_fails_with_the_chosen_steps(tanh_problem):
    H = dense_hessian(tanh_problem)
    wrong = DenseOperator(H + 1e-3 * torch.eye(len(H), dtype=H.dtype))
    report = check(tanh_problem, None, ("gradient", "random"), hessian=wrong)
    assert report.verdict == "failed"
    for d in report.directions:
        assert d.status == "failed" and abs(d.order_r2_hessian - 2.0) < 0.1, d.reason
        assert "second-order term is off" in d.reason


# -- failures and what they mean --------------------------------------------------------------
def test_a_wrong_hessian_fails_with_order_two(tanh_problem):
    H = dense_hessian(tanh_problem)
    wrong = DenseOperator(H + 1e-3 * torch.eye(len(H), dtype=H.dtype))
    report = check(tanh_problem, halving_steps(1e-2, 12), ("random",), hessian=wrong)
    d = one(report, "random")
    assert not report.passed and d.status == "failed"
    assert abs(d.order_r1 - 2.0) < 0.1
    assert abs(d.order_r2_hessian - 2.0) < 0.15
    assert "second-order term is off" in d.reason
    measured = float(re.search(r"curvature along d by ≈ ([0-9.e+-]+)", d.reason).group(1))
    assert measured == pytest.approx(1e-3, rel=0.02)  # the error it measured: dᵀ(εI)d = ε


def test_a_wrong_gradient_fails_with_order_one(tanh_problem):
    g = tanh_problem.gradient()
    noise = torch.randn(len(g), generator=torch.Generator().manual_seed(1), dtype=g.dtype)
    settings = TaylorSettings(etas=halving_steps(1e-2, 12), directions=["random"], seed=0)
    report = analyse_taylor(
        tanh_problem,
        HessianOperator(tanh_problem),
        GGNOperator(tanh_problem),
        settings,
        gradient=g + 1e-5 * noise,
    )
    d = one(report, "random")
    assert d.status == "failed" and d.order_r1 < 1.2
    assert "first-order term is off" in d.reason and "fails with R₁" in d.reason


def test_relu_kinks_are_counted_and_left_out_of_the_window():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(200, 5, generator=g), torch.randint(0, 3, (200,), generator=g)
    model = mlp((5, 16, 3), activation=nn.ReLU)
    problem = build_problem(model, x, y, get_loss("cross-entropy"))
    report = check(problem, halving_steps(1e-2, 14), ("gradient", "random"))
    for d in report.directions:
        assert d.kinks_counted_in == ["relu"] and "relu" in d.nonsmooth_ops
        kinked = [s for s in d.steps if s.kinks]
        assert kinked and all(s.regime_r2_hessian == "kink" for s in kinked)
        assert max(s.eta for s in d.steps if not s.kinks) < min(s.eta for s in kinked)
        assert d.status == "passed", d.reason  # below the nearest kink: orders 2 and 3
        assert abs(d.order_r2_hessian - 3.0) < 0.1


class Functional(nn.Module):
    """Kinks called functionally and as tensor methods: no module to hook."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind
        self.a, self.b = nn.Linear(5, 64), nn.Linear(64, 3)

    def forward(self, x):
        h = self.a(x)
        if self.kind == "softshrink":  # functional: seen in the graph, crossings not counted
            return self.b(nn.functional.softshrink(h, 0.2))
        return self.b(torch.relu(h) + 0.1 * h.clamp(min=-0.5).abs() + torch.max(h, 0.3 * h))


def _functional(kind: str, dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(400, 5, generator=g), torch.randint(0, 3, (400,), generator=g)
    torch.manual_seed(0)
    return build_problem(Functional(kind), x, y, get_loss("cross-entropy"), dtype=dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_functional_and_method_kinks_are_counted(dtype):
    """torch.relu, Tensor.clamp and Tensor.abs inside forward: their crossings are counted per
    step like a module's, so large steps across kinks never pass for a derivative error."""
    problem = _functional("relu", dtype)
    for etas in (halving_steps(1e-1, 4), None):
        for d in check(problem, etas, ("gradient", "random")).directions:
            assert d.kinks_counted_in == ["abs", "clamp", "max", "relu"]
            assert {"relu", "abs"} <= set(d.nonsmooth_ops)
            assert d.status in ("passed", "kinks", "inconclusive"), d.reason
            assert all(s.regime_r2_hessian == "kink" for s in d.steps if s.kinks)
    large = one(check(problem, halving_steps(1e-1, 4)))
    assert all(s.kinks for s in large.steps) and large.status == "kinks"


def test_an_uncounted_kink_is_named_as_a_possible_cause():
    """F.softshrink in forward: the graph shows it, its crossings are not counted (only the
    module's are), so a failed order names a kink as the likely cause before a wrong slope
    (here the gradient is off by 1e-5 noise)."""
    problem = _functional("softshrink")
    g = problem.gradient()
    noise = torch.randn(len(g), generator=torch.Generator().manual_seed(1), dtype=g.dtype)
    settings = TaylorSettings(etas=halving_steps(1e-2, 12), directions=["random"], seed=0)
    report = analyse_taylor(
        problem, HessianOperator(problem), GGNOperator(problem), settings, gradient=g + 1e-5 * noise
    )
    d = one(report, "random")
    assert d.nonsmooth_ops == ["softshrink"] and d.kinks_counted_in == []
    assert d.status == "failed" and d.order_r1 < 1.2
    assert "most likely a kink" in d.reason and "softshrink" in d.reason
    assert "first-order term is off" in d.reason


def test_float32_floor_is_detected_not_reported_as_a_derivative_failure():
    problem = _float32_tanh(seed=0)
    d = one(check(problem, halving_steps(1e-3, 12)))
    assert d.status == "inconclusive" and not d.passed
    assert "round-off" in d.reason and "float32" in d.reason and "not the derivatives" in d.reason
    # the advice is what the run did not do: float64, and letting the steps be chosen
    assert "--dtype float64" in d.reason and "leave out --eps/--sweep" in d.reason
    assert all(s.regime_r2_hessian == "floor" for s in d.steps)
    chosen = one(check(problem, None))  # following the second advice: it is not repeated
    assert chosen.status == "passed", chosen.reason
    assert d.noise.sigma > 1e3 * torch.finfo(torch.float64).eps  # a float32-sized floor
    # larger steps rise above the floor: the orders pass and the small steps stay marked
    d = one(check(problem, parse_sweep("1e-4:3e-1:16")))
    assert d.status == "passed", d.reason
    regimes = [s.regime_r2_hessian for s in d.steps]
    assert "floor" in regimes and "asymptotic" in regimes
    floor = [s.eta for s in d.steps if s.regime_r2_hessian == "floor"]
    window = [s.eta for s in d.steps if s.regime_r2_hessian == "asymptotic"]
    assert max(floor) < min(window)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_float32_never_blames_the_derivatives(seed):
    """Where round-off hides the asymptotic range, the verdict is inconclusive, never failed."""
    problem = _float32_tanh(seed)
    for etas in (halving_steps(1e-3, 12), parse_sweep("1e-4:3e-1:16"), None):
        report = check(problem, etas, DIRECTIONS)
        for d in report.directions:
            assert d.status in ("passed", "inconclusive"), d.reason


def _float32_tanh(seed):
    g = torch.Generator().manual_seed(seed + 1)
    x, y = torch.randn(64, 5, generator=g), torch.randint(0, 3, (64,), generator=g)
    model = mlp((5, 12, 3), seed=seed)
    return build_problem(model, x, y, get_loss("cross-entropy"), dtype=torch.float32)


def test_single_step_reports_without_a_verdict(tanh_problem):
    report = check(tanh_problem, halving_steps(1e-3, 0))
    d = one(report)
    assert report.passed and d.status == "not-checked" and len(d.steps) == 1
    s = d.steps[0]
    assert s.r1 == pytest.approx(abs(s.delta_loss - s.first_order))
    assert s.r2_hessian == pytest.approx(abs(s.delta_loss - s.first_order - s.second_order_hessian))
    assert s.regime_r1 == "single" and d.order_r1 is None


def test_trust_radius_on_a_sweep(tanh_problem):
    d = one(check(tanh_problem, parse_sweep("1e-4:1:13")))
    r = d.trust_radius
    assert r is not None and not d.trust_radius_is_lower_bound
    for s in d.steps:
        if s.eta <= r and s.r0 > 30 * s.noise:
            assert s.r2_hessian <= 0.01 * s.r0
    above = min((s for s in d.steps if s.eta > r), key=lambda s: s.eta)
    assert above.r2_hessian > 0.01 * above.r0


def test_schedules_and_their_errors():
    assert halving_steps(1e-3, 2) == [1e-3, 5e-4, 2.5e-4]
    etas = parse_sweep("1e-6:1e-1:6")
    assert etas[0] == pytest.approx(0.1) and etas[-1] == pytest.approx(1e-6)
    assert all(math.isclose(a / b, 10.0) for a, b in zip(etas, etas[1:]))
    for bad in ("1e-1:1e-6:5", "0:1:5", "1e-6:1e-1", "a:b:c", "1e-6:1e-1:1"):
        with pytest.raises(InputError):
            parse_sweep(bad)
    for eps, steps in ((0.0, 3), (-1e-3, 3), (1e-3, -1), (float("nan"), 3)):
        with pytest.raises(InputError):
            halving_steps(eps, steps)


# -- the command line -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A small tanh MLP classifier saved as the sample is (state dict + factory + data)."""
    folder = tmp_path_factory.mktemp("taylor")
    kwargs = {"in_features": 5, "hidden": [12], "classes": 3, "activation": "tanh"}
    from sample_models.mlp import build

    torch.manual_seed(0)
    model = build(**kwargs)
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(64, 5, generator=g), torch.randint(0, 3, (64,), generator=g)
    torch.save({"x": x, "y": y}, folder / "data.pt")
    state = {"state_dict": model.state_dict(), "factory": "sample_models.mlp:build"}
    state.update(factory_kwargs=kwargs, data="data.pt", loss="cross-entropy")
    torch.save(state, folder / "model.pt")
    return folder / "model.pt"


def test_cli_json_parses_and_passes(checkpoint, tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "taylor-check",
            str(checkpoint),
            "--trust-checkpoint",
            "--json",
            "--steps",
            "8",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["command"] == "taylor-check" and report["passed"] is True
    assert [d["name"] for d in report["directions"]] == list(DIRECTIONS)
    for d in report["directions"]:
        assert d["passed"] is True
        for key in ("order_r1", "order_r2_hessian", "order_r2_ggn", "m_over_6", "trust_radius"):
            assert isinstance(d[key], float)
        assert len(d["steps"]) == 9
        for s in d["steps"]:
            assert {"eta", "delta_loss", "r1", "r2_hessian", "r2_ggn"} <= set(s)
        assert set(d["decomposition"]) >= {"gradient", "half_ggn", "half_nonlinearity"}
    assert (tmp_path / "report.json").is_file() and (tmp_path / "taylor.png").is_file()


def test_cli_terminal_and_png(checkpoint, tmp_path, capsys, monkeypatch):
    png = tmp_path / "t.png"
    r = run(
        ["taylor-check", checkpoint, "--trust-checkpoint", "--direction", "gradient", "--png", png],
        capsys,
        monkeypatch,
    )
    assert r.code == 0, r.err
    assert "direction gradient: passed" in r.out and "PASSED" in r.out
    assert "½dᵀTd" in r.out and "trust radius" in r.out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_exit_1_means_a_wrong_derivative(tmp_path, capsys, monkeypatch):
    """A custom autograd.Function whose backward is 1.1× too large: every direction fails with
    R₁ ∝ η, exit 1, one stderr line per direction naming the first-order term."""
    args = taylor_models.save("wrong", tmp_path)
    r = run(["taylor-check", *args, "--json"], capsys, monkeypatch)
    assert r.code == 1, r.err
    report = json.loads(r.out)  # the report is out before the exit
    assert report["verdict"] == "failed" and not report["passed"]
    for d in report["directions"]:
        assert d["status"] == "failed" and d["order_r1"] < 1.2
        assert f"FAILED along '{d['name']}'" in r.err
    assert "first-order term is off" in r.err


@pytest.mark.parametrize(
    "name, dtype",
    [
        ("tanh", "float64"),
        ("tanh", "float32"),
        ("mse", "float64"),
        ("mse", "float32"),
        ("cnn", "float64"),
        ("cnn", "float32"),
        ("gpt2", "float64"),
        ("gpt2", "float32"),
    ],
)
def test_cli_healthy_models_exit_0(name, dtype, tmp_path, capsys, monkeypatch):
    """The default run (steps chosen per direction) on healthy models: exit 0; in float64
    every direction passes (the ReLU/max-pool CNN below its nearest kink); in float32 what
    round-off or kinks hide is inconclusive, never failed; no advice of what the run does."""
    if name == "gpt2":
        pytest.importorskip("transformers")
    args = taylor_models.save(name, tmp_path)
    r = run(["taylor-check", *args, "--dtype", dtype, "--json"], capsys, monkeypatch)
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["steps_chosen"] == "per direction" and report["etas"] == []
    statuses = {d["status"] for d in report["directions"]}
    reasons = " ".join(d["reason"] for d in report["directions"])
    assert "--eps" not in reasons and "--sweep" not in reasons  # the steps were chosen
    if dtype == "float64":
        assert report["verdict"] == "passed" and statuses == {"passed"}, reasons
        assert "--dtype float64" not in reasons
        for d in report["directions"]:  # (along a flat CNN direction R₂ᴴ ∝ η⁴: order ≈ 3.8)
            assert abs(d["order_r1"] - 2) < 0.1 and d["order_r2_hessian"] > 2.9
            assert name == "cnn" or abs(d["order_r2_hessian"] - 3) < 0.1
    else:
        assert statuses <= {"passed", "inconclusive", "kinks"}
        assert report["verdict"] in ("passed", "inconclusive")
        unsure = [d for d in report["directions"] if d["status"] != "passed"]
        for d in unsure:
            assert f"taylor-check {d['status']} along '{d['name']}'" in r.err
    if name == "cnn":
        steps = [s for d in report["directions"] for s in d["steps"]]
        assert any(s["kinks"] for s in steps)  # kinks crossed, and left out of the windows
        windows = [s for s in steps if s["regime_r2_hessian"] == "asymptotic"]
        assert all(not s["kinks"] for s in windows)


def test_kinks_are_named_where_they_hide_the_orders():
    """The ReLU/max-pool CNN in float32: R₁ and R₂ᴴ leave the float32 floor only at steps
    that cross a kink, so the direction is 'kinks' (not failed), and the advice is the one
    thing the run did not do (float64), not smaller steps (it walked down to the floor)."""
    torch.manual_seed(0)
    model = taylor_models.build_cnn()
    data = taylor_models.data("cnn")
    problem = build_problem(
        model, data["x"], data["y"], get_loss("cross-entropy"), dtype=torch.float32
    )
    d = one(check(problem, None, ("gradient",)))
    assert d.status == "kinks" and d.reason.startswith("kinks:")
    assert "not a derivative failure" in d.reason and "--dtype float64" in d.reason
    assert "smaller steps" not in d.reason
    assert any(s.kinks for s in d.steps)


@pytest.mark.parametrize(
    "args, words",
    [
        (["--direction-file", "WRONG"], "entries but θ has"),
        (["--direction-file", "missing.npy"], "not found"),
        (["--sweep", "1e-1:1e-6:5"], "--sweep"),
        (["--eps", "-1"], "--eps"),
        (["--direction", "sideways"], "unknown --direction"),
    ],
)
def test_cli_bad_input_exits_2(checkpoint, tmp_path, capsys, monkeypatch, args, words):
    if "WRONG" in args:
        np.save(tmp_path / "d.npy", np.ones(7))
        args = ["--direction-file", tmp_path / "d.npy"]
    monkeypatch.chdir(tmp_path)
    r = run(["taylor-check", checkpoint, "--trust-checkpoint", *args], capsys, monkeypatch)
    assert r.code == 2 and words in r.err and "Traceback" not in r.err
    assert r.out == ""


def test_cli_direction_file(checkpoint, tmp_path, capsys, monkeypatch):
    from landscape.cli.session import open_session

    p = open_session(
        "taylor_check", {"model": checkpoint, "trust_checkpoint": True}
    ).problem.num_params
    v = torch.randn(p, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    torch.save(v, tmp_path / "mine.pt")
    r = run(
        [
            "taylor-check",
            checkpoint,
            "--trust-checkpoint",
            "--direction-file",
            tmp_path / "mine.pt",
            "--json",
        ],
        capsys,
        monkeypatch,
    )
    assert r.code == 0, r.err
    names = [d["name"] for d in json.loads(r.out)["directions"]]
    assert names == ["mine.pt"]
    np.save(tmp_path / "mine.npy", v.numpy())
    r = run(
        [
            "taylor-check",
            checkpoint,
            "--trust-checkpoint",
            "--direction-file",
            tmp_path / "mine.npy",
            "--direction",
            "gradient",
            "--json",
        ],
        capsys,
        monkeypatch,
    )
    assert r.code == 0, r.err
    assert [d["name"] for d in json.loads(r.out)["directions"]] == ["mine.npy", "gradient"]


def test_float32_runs_along_the_eigenvectors(capsys, monkeypatch):
    """The solver's vectors are float64; a float32 line must still take them (it crashed)."""
    r = run(
        ["taylor-check", "--dtype", "float32", "--direction", "top-eigenvector", "--json"],
        capsys,
        monkeypatch,
    )
    assert r.code in (0, 1), r.err
    direction = json.loads(r.out)["directions"][0]
    assert direction["eigenvalue"] == pytest.approx(43.13266091918, rel=1e-5)  # float64 truth


def test_two_ranks_choose_the_same_steps_across_kinks(tmp_path, capsys, monkeypatch):
    """Under torchrun each rank sees its own examples' kinks; the counts are summed over the
    ranks, so both walk the same steps (a rank walking alone would hang the other) and the
    result equals one process's."""
    import os
    import subprocess
    import sys

    args = taylor_models.save("cnn", tmp_path)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node", "2", "-m", "landscape", "taylor-check", *args]
    command += ["--direction", "gradient,random", "--json"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    two = json.loads(result.stdout)
    one_run = run(
        ["taylor-check", *args, "--direction", "gradient,random", "--json"], capsys, monkeypatch
    )
    one = json.loads(one_run.out)
    for a, b in zip(one["directions"], two["directions"], strict=True):
        assert a["status"] == b["status"] == "passed"
        assert [s["eta"] for s in a["steps"]] == [s["eta"] for s in b["steps"]]
        assert [s["kinks"] for s in a["steps"]] == [s["kinks"] for s in b["steps"]]
        assert any(s["kinks"] for s in b["steps"])
