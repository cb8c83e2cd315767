"""`landscape ggn-gap` against dense float64 truths and closed forms."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from cli import run
from dense import (
    classification_problem,
    dense_empirical_fisher,
    dense_ggn,
    dense_hessian,
    mlp,
)
from torch import nn
from typer.testing import CliRunner

from landscape.analyses.ggn_gap import analyse_ggn_gap
from landscape.api.settings import settings_for
from landscape.curvature import FisherOperator
from landscape.errors import InputError
from landscape.losses import get_loss
from landscape.problem import build_problem


def eigvals(M):
    return torch.linalg.eigvalsh(0.5 * (M + M.T)).numpy()


def assert_pairs_match(pairs, truth, scale, top: bool):
    """The i-th reported pair is within its bound (plus 1e-8 relative) of the i-th eigenvalue."""
    ordered = truth[::-1] if top else truth
    for e, lam in zip(pairs, ordered):
        assert e.converged
        assert abs(e.value - lam) <= max(e.error_bound, 1e-12 * scale) + 1e-8 * scale, (e, lam)


def assert_pairs_near(pairs, truth, scale):
    """Each pair within its bound of some eigenvalue (what a Ritz residual certifies; a
    single-vector Krylov method does not see multiplicities)."""
    for e in pairs:
        assert float(np.abs(truth - e.value).min()) <= e.error_bound + 1e-8 * scale, e


def within(est, true, sigmas=4.0):
    return abs(est.value - true) <= sigmas * est.stderr + 1e-12


# --------------------------------------------------------------------- T = 0 closed forms
def test_linear_model_mse_has_no_t():
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(30, 4, generator=g), torch.randn(30, 3, generator=g)
    torch.manual_seed(0)
    problem = build_problem(nn.Linear(4, 3), x, y, get_loss("mse"), batch_size=16)
    H, G = dense_hessian(problem), dense_ggn(problem)
    assert torch.allclose(H, G, atol=1e-13 * float(H.abs().max()))
    for exact in (False, True):
        r = analyse_ggn_gap(
            problem, settings_for("ggn_gap", None, k=3, exact=exact, mc_samples=(1, 4))
        )
        scale = r.hessian.top[0].value
        assert r.frobenius_gap.value < 1e-12
        assert all(abs(e.value) < 1e-12 * scale for e in r.t.top + r.t.bottom)
        assert r.t.converged
        assert all(abs(d.dTd) < 1e-12 * scale for d in r.directions)
        assert_pairs_near(r.ggn.top + r.hessian.top, eigvals(G), scale)


def test_interpolating_network_has_no_t():
    """Targets := the model's own outputs, so every residual g_z is exactly 0."""
    x = torch.randn(40, 4, generator=torch.Generator().manual_seed(2)).double()
    noisy = build_problem(
        mlp((4, 8, 3), seed=1), x, torch.zeros(40, 3), get_loss("mse"), batch_size=16
    )
    with torch.no_grad():  # targets := outputs, batch by batch
        batches = [(xb, noisy.outputs(noisy.params, xb)) for xb, _ in noisy.batches]
    problem = replace(noisy, batches=batches)
    r = analyse_ggn_gap(problem, settings_for("ggn_gap", None, k=2, mc_samples=(1, 4)))
    scale = r.hessian.top[0].value
    assert scale > 0
    assert r.frobenius_gap.value < 1e-10
    assert all(abs(e.value) <= 1e-10 * scale for e in r.t.top + r.t.bottom)
    assert r.hessian.bottom[0].value > -1e-10 * scale  # no negative curvature without T
    assert r.context.mean_output_grad_norm == 0.0 and r.context.fit_share == 1.0
    assert "gradient" not in [d.name for d in r.directions]  # the gradient is exactly 0


# ---------------------------------------------------------------- dense float64 truths
@pytest.fixture(scope="module")
def generic():
    problem = classification_problem(n=48, sizes=(4, 8, 3), seed=0)
    H, G = dense_hessian(problem), dense_ggn(problem)
    return problem, H, G, dense_empirical_fisher(problem)


@pytest.fixture(scope="module")
def generic_report(generic):
    problem = generic[0]
    settings = settings_for(
        "ggn_gap", None, k=3, tol=1e-10, per_layer=True, mc_samples=(1, 4), seed=0
    )
    return analyse_ggn_gap(problem, settings)


def test_eigenvalues_of_h_g_t_within_bounds(generic, generic_report):
    _, H, G, _ = generic
    r = generic_report
    scale = float(np.abs(eigvals(H)).max())
    assert eigvals(H)[0] < 0 < eigvals(H - G)[-1]  # a case with negative curvature and T ≠ 0
    for spectra, M in ((r.hessian, H), (r.ggn, G), (r.t, H - G)):
        assert_pairs_match(spectra.top, eigvals(M), scale, top=True)
        assert all(e.error_bound <= 1e-8 * scale for e in spectra.top + spectra.bottom)
    assert_pairs_match(r.hessian.bottom, eigvals(H), scale, top=False)
    assert_pairs_match(r.t.bottom, eigvals(H - G), scale, top=False)
    # G is singular (softmax and output-bias directions): its zero eigenvalue is multiple
    assert_pairs_near(r.ggn.bottom, eigvals(G), scale)


def test_frobenius_figures_within_their_stderr(generic, generic_report):
    _, H, G, EF = generic
    r = generic_report
    true_gap = float((H - G).norm() / H.norm())
    assert r.frobenius_gap.stderr > 0 and within(r.frobenius_gap, true_gap)
    assert abs(r.frobenius_gap.hessian_norm / float(H.norm()) - 1) < 0.3
    assert within(r.empirical_fisher.relative_frobenius, float((EF - G).norm() / G.norm()))
    assert_pairs_match(r.empirical_fisher.top, eigvals(EF), float(eigvals(EF)[-1]), top=True)


def test_directions_match_dense_products(generic, generic_report):
    _, H, G, _ = generic
    r = generic_report
    names = [d.name for d in r.directions]
    assert names[:5] == ["hessian top-1", "hessian bottom-1", "ggn top-1", "t bottom-1", "gradient"]
    assert len(names) == 5 + 2
    for d in r.directions:
        v = r.vectors[d.name]
        assert abs(float(v.norm()) - 1) < 1e-12
        assert d.dHd == pytest.approx(float(v @ H @ v), abs=1e-10)
        assert d.dGd == pytest.approx(float(v @ G @ v), abs=1e-10)
        assert d.dTd == pytest.approx(d.dHd - d.dGd, abs=1e-12)
        assert 0 <= d.t_share <= 1
    bottom = r.directions[1]
    assert bottom.dHd < 0 and bottom.dGd >= 0 and bottom.dTd < 0  # negatives come from T


def test_per_layer_gaps_against_dense_blocks(generic, generic_report):
    problem, H, G, _ = generic
    r = generic_report
    scale = float(np.abs(eigvals(H)).max())
    assert [layer.name for layer in r.per_layer] == [b.name for b in problem.blocks()]
    for layer, block in zip(r.per_layer, problem.blocks()):
        s = block.slice
        Hb, Tb = H[s, s], (H - G)[s, s]
        assert within(layer.frobenius_gap, float(Tb.norm() / Hb.norm()))
        lam = eigvals(Tb)
        for e, true in ((layer.t_top, lam[-1]), (layer.t_bottom, lam[0])):
            assert abs(e.value - true) <= e.error_bound + 1e-8 * scale


def test_exact_mode_is_exact(generic):
    problem, H, G, EF = generic
    r = analyse_ggn_gap(
        problem, settings_for("ggn_gap", None, k=3, exact=True, per_layer=True, mc_samples=(1, 4))
    )
    scale = float(np.abs(eigvals(H)).max())
    assert r.frobenius_gap.value == pytest.approx(float((H - G).norm() / H.norm()), rel=1e-10)
    assert r.frobenius_gap.stderr == 0 and r.frobenius_gap.method == "exact"
    assert r.empirical_fisher_gap == pytest.approx(float((EF - G).norm() / G.norm()), rel=1e-10)
    for spectra, M in ((r.hessian, H), (r.ggn, G), (r.t, H - G)):
        assert_pairs_match(spectra.top, eigvals(M), scale, top=True)
        assert_pairs_match(spectra.bottom, eigvals(M), scale, top=False)
    for layer, block in zip(r.per_layer, problem.blocks()):
        Hb, Tb = H[block.slice, block.slice], (H - G)[block.slice, block.slice]
        assert layer.frobenius_gap.value == pytest.approx(
            float(Tb.norm() / Hb.norm()), rel=1e-9, abs=1e-14
        )
    assert r.products["hessian"] == problem.num_params


def test_context_residuals(generic, generic_report):
    problem = generic[0]
    x = torch.cat([b[0] for b in problem.batches])
    y = torch.cat([b[1] for b in problem.batches])
    with torch.no_grad():
        p = torch.softmax(problem.model(x), 1)
    gz = p - torch.nn.functional.one_hot(y, 3).double()
    c = generic_report.context
    assert c.mean_output_grad_norm == pytest.approx(float(gz.norm(dim=1).mean()), rel=1e-12)
    assert c.correct_share == pytest.approx(float((p.argmax(1) == y).double().mean()))
    assert c.fit_share == pytest.approx(float((gz.abs().amax(1) <= 0.05).double().mean()))


# ------------------------------------------------------------------------------- Fisher
@pytest.mark.parametrize("loss", ["cross-entropy", "bce", "mse"])
def test_exact_fisher_equals_ggn(loss):
    problem = classification_problem(n=24, sizes=(3, 5, 2), loss=loss, seed=4)
    G = dense_ggn(problem)  # H_L from autograd, not the closed form
    F = FisherOperator(problem).dense()
    assert float((F - G).abs().max()) <= 1e-10 * float(G.abs().max())
    for exact in (False, True):
        r = analyse_ggn_gap(
            problem, settings_for("ggn_gap", None, k=1, exact=exact, mc_samples=(1,))
        )
        assert r.fisher_vs_ggn <= 1e-10


def test_monte_carlo_fisher_error_falls_like_one_over_root_s():
    problem = classification_problem(n=64, sizes=(4, 6, 3), seed=2)
    G = dense_ggn(problem)
    for seed in (0, 1):
        settings = settings_for("ggn_gap", None, k=1, mc_samples=(1, 4, 16, 64, 256), seed=seed)
        r = analyse_ggn_gap(problem, settings)
        assert -0.7 <= r.mc_fisher.slope <= -0.3, r.mc_fisher
        errors = [p.relative_error for p in r.mc_fisher.points]
        assert errors[-1] < errors[0] / 4
    # the probe estimate of one point against the dense Monte-Carlo matrix
    F16 = FisherOperator(problem, mc_samples=16, seed=1).dense()
    point = r.mc_fisher.points[2]
    assert point.samples == 16
    true = float((F16 - G).norm() / G.norm())
    assert abs(point.relative_error - true) <= 4 * point.stderr


def test_empirical_fisher_differs_from_ggn(generic, generic_report):
    _, _, G, EF = generic
    r = generic_report
    assert float((EF - G).norm() / G.norm()) > 0.1
    assert r.empirical_fisher_gap > 0.1
    assert r.empirical_fisher.not_a_curvature
    assert r.fisher_vs_ggn < 1e-10  # while the true Fisher is G


# -------------------------------------------------------------------------- settings
@pytest.mark.parametrize(
    "change",
    [
        {"k": 0},
        {"k": 1000},
        {"tol": 0.0},
        {"probes": 1},
        {"random_directions": -1},
        {"mc_samples": ()},
        {"mc_samples": (0, 4)},
    ],
)
def test_impossible_settings_raise_input_error(generic, change):
    with pytest.raises(InputError):
        analyse_ggn_gap(generic[0], settings_for("ggn_gap", None, **change))


def test_exact_refuses_large_models():
    problem = classification_problem(n=8, sizes=(64, 64, 4))  # 4,420 parameters
    with pytest.raises(InputError, match="4000 parameters"):
        analyse_ggn_gap(problem, settings_for("ggn_gap", None, exact=True))


# ------------------------------------------------------------------------------- CLI
def save_checkpoint(folder, in_features=4, hidden=(6,), classes=3, n=32):
    from sample_models.mlp import build

    kwargs = {"in_features": in_features, "hidden": list(hidden), "classes": classes}
    torch.manual_seed(0)
    model = build(**kwargs)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, in_features, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    ckpt, data = folder / "model.pt", folder / "data.pt"
    torch.save(
        {
            "state_dict": model.state_dict(),
            "factory": "sample_models.mlp:build",
            "factory_kwargs": kwargs,
            "loss": "cross-entropy",
        },
        ckpt,
    )
    torch.save({"x": x, "y": y}, data)
    return ckpt, data


FAST = ["--k", "2", "--probes", "6", "--mc-samples", "1,4", "--random-directions", "1"]


def test_cli_json_parses(tmp_path):
    from landscape.cli import app

    ckpt, data = save_checkpoint(tmp_path)
    result = CliRunner().invoke(
        app, ["ggn-gap", str(ckpt), "--trust-checkpoint", "--data", str(data), *FAST, "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["command"] == "ggn-gap"
    for key in ("hessian", "ggn", "t"):
        assert set(report[key]) >= {"top", "bottom"}
        assert set(report[key]["top"][0]) == {"value", "error_bound", "converged"}
    assert set(report["frobenius_gap"]) >= {"value", "stderr"}
    assert set(report["directions"][0]) >= {"name", "dHd", "dGd", "dTd"}
    assert isinstance(report["fisher_vs_ggn"], float)
    assert isinstance(report["empirical_fisher_gap"], float)
    assert [p["samples"] for p in report["mc_fisher"]["points"]] == [1, 4]
    assert "vectors" not in report


def test_cli_terminal_png_and_out(tmp_path):
    from landscape.cli import app

    ckpt, data = save_checkpoint(tmp_path)
    png, out = tmp_path / "gap.png", tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "ggn-gap",
            str(ckpt),
            "--trust-checkpoint",
            "--data",
            str(data),
            *FAST,
            "--per-layer",
            "--exact",
            "--png",
            str(png),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "T = H − G" in result.stdout and "NOT A CURVATURE" in result.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "ggn_gap.png").exists()
    assert json.loads((out / "report.json").read_text())["exact"] is True


@pytest.mark.parametrize(
    "args, message",
    [
        (["--exact"], "4000 parameters"),
        (["--k", "0"], "--k"),
        (["--probes", "1"], "--probes"),
        (["--mc-samples", "0,4"], "--mc-samples"),
        (["--mc-samples", "many"], "--mc-samples"),
        (["--random-directions", "-1"], "--random-directions"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, monkeypatch, capsys, args, message):
    big = args == ["--exact"]
    ckpt, data = (
        save_checkpoint(tmp_path, in_features=64, hidden=(64,), classes=4, n=8)
        if big
        else save_checkpoint(tmp_path)
    )
    out = tmp_path / "out"
    result = run(
        ["ggn-gap", ckpt, "--trust-checkpoint", "--data", data, "--out", out, *args],
        capsys,
        monkeypatch,
    )
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and result.out == ""
    assert not out.exists()
