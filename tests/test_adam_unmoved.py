"""Adam's preconditioned sharpness without the coordinates Adam never moved (v̂ = 0), against
dense float64 truths: the restricted operator, the count left out, the share of the full
operator's top eigenvector on them, and the option that keeps them (issue 20, item 3)."""

import copy
import json

import pytest
import torch
from torch import nn

from landscape.analyses.sharpness import AdamState, adam_state, analyse_adam, analyse_sharpness
from landscape.analyses.sharpness.preconditioned import KeptCoordinates
from landscape.api.settings import settings_for
from landscape.curvature import HessianOperator
from landscape.curvature.base import DenseOperator, ScaledOperator
from landscape.estimators.lanczos import extreme_eigenpairs
from landscape.losses import get_loss
from landscape.problem import build_problem
from sample_models.mlp import build
from tests.cli import run
from tests.dense import dense_hessian

RELU_KWARGS = {"in_features": 4, "hidden": [8], "classes": 3, "activation": "relu"}
DEAD = [0, 1, 2]  # hidden units dead on every training batch


def dead_unit_training(seed=0, steps=200, batch=16):
    """A ReLU MLP with three units dead on its training data, trained by minibatch Adam, and an
    analysis set that adds one example reaching each dead unit (as a validation set or an
    un-augmented set can): Adam's v̂ is 0 there, the Hessian is not."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(96, 4, generator=g, dtype=torch.float64)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long() + (x[:, 2] > 1).long()
    model = build(**RELU_KWARGS).double()
    with torch.no_grad():  # |w·x| ≤ 0.1·|x|₁ < 5 on every training example
        model.hidden[0].weight[DEAD] = 0.1 * torch.rand(3, 4, generator=g).double()
        model.hidden[0].bias[DEAD] = -5.0
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(steps):
        idx = torch.randint(0, 96, (batch,), generator=g)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
    w = model.hidden[0].weight[DEAD].detach()
    reach = torch.tensor([6.0, 7.0, 8.0], dtype=torch.float64)[:, None]  # w·x = 6, 7, 8 > 5
    wake = reach * w / w.square().sum(1, keepdim=True)
    analysed = torch.cat([x, wake]), torch.cat([y, torch.tensor([0, 1, 2])])
    return model, (x, y), analysed, opt


@pytest.fixture(scope="module")
def dead():
    return dead_unit_training()


def dense_truth(problem, state):
    """D^-1/2 H D^-1/2 in float64 from an independent dense Hessian, and the v̂ = 0 mask."""
    H = dense_hessian(problem)
    s = (state.sqrt_v_hat + state.eps).rsqrt()
    return s[:, None] * H * s[None, :]


def raw_zero_mask(opt) -> torch.Tensor:
    raw = opt.state_dict()["state"]
    return torch.cat([raw[i]["exp_avg_sq"].reshape(-1) == 0 for i in sorted(raw)])


def check_share(out, A, unmoved):
    """The reported interval holds the dense top eigenvector's mass on the left-out set."""
    values, vectors = torch.linalg.eigh(A)
    assert values[-1] - values[-2] > 1e-6 * abs(values[-1])  # a simple top: u is defined
    truth = float(vectors[unmoved, -1].square().sum())
    assert out.share_low is not None and out.share_low <= truth <= out.share_high
    assert abs(out.share - truth) <= 1e-6
    assert abs(out.full.value - float(values[-1])) <= out.full.error_bound + 1e-9 * values[-1]
    return truth


def test_kept_coordinates_is_the_dense_submatrix_of_the_scaled_operator():
    g = torch.Generator().manual_seed(1)
    B = torch.randn(9, 9, generator=g, dtype=torch.float64)
    parent = DenseOperator(B + B.T)
    scale = torch.rand(9, generator=g, dtype=torch.float64) + 0.5
    kept = torch.tensor([0, 2, 3, 7])
    op = KeptCoordinates(parent, scale, kept)
    expected = (scale[:, None] * (B + B.T) * scale[None, :])[kept][:, kept]
    torch.testing.assert_close(op.dense(), expected, rtol=0, atol=1e-12)
    assert op.shape == (4, 4) and op.products == parent.products == 4


def test_an_intermediate_share_on_a_dense_operator_is_within_its_interval():
    """ε large enough that the left-out coordinates do not swamp the operator: the share is
    neither 0 nor 1, and the interval must hold the dense eigenvector's mass."""
    g = torch.Generator().manual_seed(3)
    p = 14
    B = torch.randn(p, p, generator=g, dtype=torch.float64)
    H = B @ B.T / p
    sqrt_v = torch.rand(p, generator=g, dtype=torch.float64) + 0.2
    unmoved = torch.zeros(p, dtype=torch.bool)
    unmoved[[1, 4, 5, 9]] = True
    sqrt_v[unmoved] = 0.0
    eps = torch.full((p,), 0.7, dtype=torch.float64)
    state = AdamState(sqrt_v, torch.full_like(eps, 0.01), eps, 0.9, 0.999, 10, 0.0, False)
    report = analyse_adam(DenseOperator(H), state, 0.01, tol=1e-10, diagonal=False)
    s = (sqrt_v + eps).rsqrt()
    A = s[:, None] * H * s[None, :]
    kept = float(torch.linalg.eigvalsh(A[~unmoved][:, ~unmoved])[-1])
    pair = report.preconditioned  # the dense solve's own round-off: 1e-12 relative
    assert abs(pair.value - kept) <= pair.error_bound + 1e-12 * kept
    assert (report.kept, report.unmoved, report.left_out.count) == (10, 4, 4)
    truth = check_share(report.left_out, A, unmoved)
    assert 0.05 < truth < 0.95, truth  # the case this test is for


@pytest.mark.parametrize("data", ["analysed", "training"])
def test_dead_units_are_left_out_and_match_the_dense_restricted_operator(dead, data):
    model, training, analysed, opt = dead
    problem = build_problem(model, *(analysed if data == "analysed" else training),
                            get_loss("cross-entropy"))  # fmt: skip
    state = adam_state(problem, opt.state_dict())
    unmoved = raw_zero_mask(opt)
    assert int(unmoved.sum()) == 24  # 3 rows of 4 weights, 3 biases, 3 columns of out.weight
    torch.testing.assert_close(state.never_moved(), unmoved)
    A = dense_truth(problem, state)
    op = HessianOperator(problem)
    report = analyse_adam(op, state, 0.01, tol=1e-8, diagonal=False)
    pair, out = report.preconditioned, report.left_out
    kept = float(torch.linalg.eigvalsh(A[~unmoved][:, ~unmoved])[-1])
    assert pair.converged and abs(pair.value - kept) <= pair.error_bound + 1e-12 * kept
    assert report.margin == pytest.approx(pair.value / 3800.0)
    assert (report.kept, out.count) == (problem.num_params - 24, 24)
    assert out.products > 0 and report.products == op.products  # both solves, counted
    truth = check_share(out, A, unmoved)
    if data == "analysed":  # examples reach the dead units: 1/ε blows their curvature up
        assert truth > 0.999 and out.full.value > 1e6 * pair.value
    else:  # no example reaches them: H is 0 there, and so is the share
        assert truth < 1e-12 and out.full.value == pytest.approx(pair.value, rel=1e-9)
    keep = analyse_adam(HessianOperator(problem), state, 0.01, tol=1e-8, diagonal=False,
                        keep_unmoved=True)  # fmt: skip
    full = float(torch.linalg.eigvalsh(A)[-1])
    assert keep.left_out is None and (keep.kept, keep.unmoved) == (problem.num_params, 24)
    assert abs(keep.preconditioned.value - full) <= keep.preconditioned.error_bound + 1e-12 * full


def test_nothing_unmoved_costs_no_extra_solve(dead):
    model, training, _, opt = dead
    problem = build_problem(model, *training, get_loss("cross-entropy"))
    state = adam_state(problem, opt.state_dict())
    moved = AdamState(state.sqrt_v_hat + 1e-3, state.lr, state.eps, 0.9, 0.999, 200, 0.0, False)
    report = analyse_adam(HessianOperator(problem), moved, 0.01, tol=1e-8, diagonal=False)
    assert report.left_out is None and report.unmoved == 0
    scaled = ScaledOperator(HessianOperator(problem), moved.preconditioner().rsqrt())
    alone = extreme_eigenpairs(scaled, 1, 0, tol=1e-8)  # the one solve, as before the rule
    assert report.kept == problem.num_params and report.products == alone.products
    assert report.preconditioned == alone.top[0]


def test_a_state_that_moved_nothing_gives_no_preconditioned_figure_and_says_why(dead):
    model, training, _, opt = dead
    problem = build_problem(model, *training, get_loss("cross-entropy"))
    state = copy.deepcopy(opt.state_dict())
    for entry in state["state"].values():
        entry["exp_avg_sq"].zero_()
    settings = settings_for("sharpness", problem.num_params)
    report = analyse_sharpness(problem, settings, parts={"adam_eigen"}, optimizer=state)
    assert report.adam.preconditioned is None and report.adam.margin is None
    assert report.adam.left_out.count == problem.num_params == report.adam.unmoved
    assert report.adam.left_out.share == pytest.approx(1.0)
    assert "preconditioned_sharpness" not in report.metrics
    assert "moved no coordinate" in report.unavailable["adam_stability_margin"]


# -------------------------------------------------------------------------------- CLI
@pytest.fixture
def dead_checkpoint(tmp_path, monkeypatch, dead):
    monkeypatch.chdir(tmp_path)
    model, _, (x, y), opt = dead
    torch.save({"x": x, "y": y}, tmp_path / "data.pt")
    torch.save(
        {
            "state_dict": model.state_dict(),
            "loss": "cross-entropy",
            "data": "data.pt",
            "optimizer": opt.state_dict(),
            "factory": "sample_models.mlp:build",
            "factory_kwargs": RELU_KWARGS,
        },
        tmp_path / "model.pt",
    )
    problem = build_problem(model, x, y, get_loss("cross-entropy"))
    A = dense_truth(problem, adam_state(problem, opt.state_dict()))
    return tmp_path / "model.pt", A, raw_zero_mask(opt)


def test_cli_reports_the_kept_margin_the_count_and_the_share(dead_checkpoint, capsys, monkeypatch):
    path, A, unmoved = dead_checkpoint
    quick = ["--avg-samples", "2", "--ascent-steps", "1", "--slice-points", "3", "--k", "1"]
    base = ["sharpness", path, "--trust-checkpoint", "--tol", "1e-8", *quick]
    r = run([*base, "--json"], capsys, monkeypatch)
    assert r.code == 0, r.err
    adam = json.loads(r.out)["adam"]
    kept = float(torch.linalg.eigvalsh(A[~unmoved][:, ~unmoved])[-1])
    pre = adam["preconditioned"]
    assert abs(pre["value"] - kept) <= pre["error_bound"] + 1e-12 * kept
    assert adam["margin"] == pytest.approx(pre["value"] / adam["threshold"])
    out = adam["left_out"]
    truth = float(torch.linalg.eigh(A)[1][unmoved, -1].square().sum())
    assert out["count"] == 24 and out["share_low"] <= truth <= out["share_high"]
    assert out["products"] > 0
    r = run([*base, "--adam-keep-unmoved", "--json"], capsys, monkeypatch)
    assert r.code == 0, r.err
    adam = json.loads(r.out)["adam"]
    full = float(torch.linalg.eigvalsh(A)[-1])
    pre = adam["preconditioned"]
    assert abs(pre["value"] - full) <= pre["error_bound"] + 1e-12 * full
    assert adam["left_out"] is None and adam["unmoved"] == 24
    r = run(base, capsys, monkeypatch)
    assert r.code == 0, r.err
    text = " ".join(r.out.split())
    assert "on the 43 coordinates Adam moved: 24 with v̂ = 0" in text
    assert "of its mass on them" in text


def test_the_gate_passes_on_the_kept_coordinates_and_fails_with_them(
    dead_checkpoint, capsys, monkeypatch
):
    path = dead_checkpoint[0]
    gate = ["gate", path, "--trust-checkpoint", "--max", "adam_stability_margin=1"]
    assert run(gate, capsys, monkeypatch).code == 0
    r = run([*gate, "--adam-keep-unmoved"], capsys, monkeypatch)
    assert r.code == 1 and "adam_stability_margin" in r.err
