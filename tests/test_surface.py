"""`landscape surface` and `landscape interpolate` against independent float64 evaluations
(load_state_dict and a plain forward per point), closed forms and dense Hessians; the bad
inputs of both through the console entry point."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from cli import run
from torch import nn
from torch.nn import functional as F

from landscape.analyses.surface import (
    InterpolationSettings,
    SurfaceSettings,
    analyse_interpolation,
    analyse_surface,
    filter_norms,
    match_ends,
    normalise,
    point_losses,
    random_directions,
)
from landscape.losses import get_loss
from landscape.problem import build_problem
from sample_models import SAMPLE_CHECKPOINT
from tests.dense import classification_problem, dense_hessian


# ---------------------------------------------------------------------------- models
class SmallCNN(nn.Module):
    """Conv → BatchNorm (eval, non-trivial running statistics) → ReLU → Linear."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv2d(2, 3, 3)
        self.bn = nn.BatchNorm2d(3)
        self.head = nn.Linear(27, 4)
        with torch.no_grad():
            self.bn.running_mean.uniform_(-0.5, 0.5)
            self.bn.running_var.uniform_(0.5, 2.0)
            self.bn.weight.uniform_(0.5, 1.5)
            self.bn.bias.uniform_(-0.2, 0.2)

    def forward(self, x):
        return self.head(F.relu(self.bn(self.conv(x))).flatten(1))


class NoVmap(SmallCNN):
    """Python control flow on a parameter: vmap cannot run it (bool of a batched tensor)."""

    def forward(self, x):
        if self.head.weight.sum() > -1e9:
            return super().forward(x)
        return super().forward(-x)


def cnn_data(n=10, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, 5, 5, generator=g), torch.randint(0, 4, (n,), generator=g)


def cnn_problem(model=None, batch_size=4):
    x, y = cnn_data()
    model = SmallCNN() if model is None else model
    return build_problem(model, x, y, get_loss("cross-entropy"), batch_size=batch_size)


def reference_loss(problem, flat: torch.Tensor) -> float:
    """The loss at θ = flat, independently: a copy of the model, load_state_dict, a plain
    forward over the whole data in float64, F.cross_entropy."""
    model = copy.deepcopy(problem.model).double().eval()
    state = model.state_dict()
    for name, value in zip(problem.names, problem.unflatten(flat), strict=True):
        state[name] = value.detach().clone()
    model.load_state_dict(state)
    x, y = cnn_data()
    with torch.no_grad():
        return float(F.cross_entropy(model(x.double()), y))


def settings(**given) -> SurfaceSettings:
    base = dict(grid=3, lo=-0.5, hi=1.0, dims=2, directions="random", normalize="filter", seed=3)
    return SurfaceSettings(**{**base, **given})


# ---------------------------------------------------------------------- grid values
@pytest.mark.parametrize("mode", ["vmap", "loop", "auto"])
def test_grid_values_equal_an_independent_evaluation(mode):
    problem = cnn_problem()
    report = analyse_surface(problem, settings(mode=mode))
    theta = problem.flat_params()
    d1, d2 = (d.flat for d in report.directions)
    for i, s in enumerate(report.x):
        for j, t in enumerate(report.y):
            truth = reference_loss(problem, theta + s * d1 + t * d2)
            assert abs(report.loss[i][j] - truth) <= 1e-10, (mode, s, t)
    assert report.evaluation.mode == (mode if mode != "auto" else report.evaluation.mode)
    assert report.evaluation.points == 9


def test_a_model_vmap_cannot_run_falls_back_to_the_loop():
    problem = cnn_problem(NoVmap())
    report = analyse_surface(problem, settings(dims=1, grid=4, mode="vmap"))
    assert report.evaluation.mode == "loop" and "vmap cannot run" in report.evaluation.note
    d = report.directions[0].flat
    for t, loss in zip(report.x, report.loss, strict=True):
        assert abs(loss - reference_loss(problem, problem.flat_params() + t * d)) <= 1e-10


def test_stacked_points_equal_single_points_with_uneven_batches():
    problem = cnn_problem(batch_size=3)  # 10 examples: batches of 3, 3, 3, 1
    dirs = [d.tensors for d in random_directions(problem, 2, "layer", 0)]
    coords = torch.tensor([[0.0, 0.0], [0.3, -0.2], [-1.0, 0.5]], dtype=torch.float64)
    stacked = point_losses(problem, problem.params, dirs, coords, mode="vmap")
    single = point_losses(problem, problem.params, dirs, coords, mode="loop")
    assert stacked.mode == "vmap" and single.mode == "loop"
    assert torch.allclose(stacked.losses, single.losses, rtol=0, atol=1e-12)
    assert abs(float(stacked.losses[0]) - problem.loss_at()) <= 1e-12


# ------------------------------------------------------------------- normalisation
def test_filter_normalisation_follows_its_definition_per_layer_type():
    problem = cnn_problem()
    params = dict(zip(problem.names, problem.params, strict=True))
    g = torch.Generator().manual_seed(0)
    raw = [torch.randn(p.shape, generator=g, dtype=torch.float64) for p in problem.params]
    out = dict(zip(problem.names, normalise(raw, problem.params, "filter"), strict=True))
    raws = dict(zip(problem.names, raw, strict=True))
    for name in ("conv.weight", "head.weight"):  # a conv filter: out channel × in × taps
        d, w = out[name], params[name]
        for i in range(w.shape[0]):
            assert torch.isclose(d[i].norm(), w[i].norm(), rtol=1e-13)
            direction = raws[name][i] / raws[name][i].norm()  # only rescaled, not turned
            assert torch.allclose(d[i] / d[i].norm(), direction, atol=1e-14)
    for name in ("conv.bias", "bn.weight", "bn.bias", "head.bias"):  # 1-D: zero
        assert not out[name].any(), name
    layer = dict(zip(problem.names, normalise(raw, problem.params, "layer"), strict=True))
    for name in ("conv.weight", "head.weight"):
        assert torch.isclose(layer[name].norm(), params[name].norm(), rtol=1e-13)
    assert not layer["bn.weight"].any()
    assert all(torch.equal(a, b) for a, b in zip(normalise(raw, problem.params, "none"), raw))
    (unit,) = random_directions(problem, 1, "none", 0)
    assert abs(unit.norm - 1) < 1e-13


def test_filter_norms_of_a_conv_weight():
    w = torch.arange(2 * 3 * 2 * 2, dtype=torch.float64).reshape(2, 3, 2, 2)
    assert torch.allclose(filter_norms(w).flatten(), w.flatten(1).norm(dim=1))


# ------------------------------------------------------------------ quadratic model
def test_hessian_directions_are_the_solvers_eigenvectors_and_the_model_on_the_axes():
    problem = classification_problem(n=30, sizes=(3, 5, 3), batch_size=None)
    report = analyse_surface(problem, settings(directions="hessian", grid=5, lo=-1.0, tol=1e-10))
    H = dense_hessian(problem)
    values, vectors = torch.linalg.eigh(H)
    L, g = problem.loss_and_gradient()
    for k, d in enumerate(report.directions):
        assert abs(d.eigenpair.value - float(values[-1 - k])) <= 1e-8 * float(values[-1])
        assert abs(abs(float(d.flat @ vectors[:, -1 - k])) - 1) <= 1e-8
        assert report.slopes[k] == pytest.approx(float(g @ d.flat), abs=1e-13)
    centre = report.x.index(0.0)
    lam1, lam2 = (d.eigenpair.value for d in report.directions)
    for i, s in enumerate(report.x):  # the s axis (t = 0) and the t axis (s = 0)
        on_s = L + s * report.slopes[0] + 0.5 * lam1 * s * s
        on_t = L + s * report.slopes[1] + 0.5 * lam2 * s * s
        assert report.quadratic[i][centre] == pytest.approx(on_s, rel=1e-13)
        assert report.quadratic[centre][i] == pytest.approx(on_t, rel=1e-13)
    assert report.loss[centre][centre] == pytest.approx(L, rel=1e-13)


def test_the_quadratic_model_of_random_directions_uses_the_dense_hessian():
    problem = classification_problem(n=30, sizes=(3, 5, 3), batch_size=None)
    report = analyse_surface(problem, settings(grid=4))
    D = torch.stack([d.flat for d in report.directions], dim=1)
    truth = D.T @ dense_hessian(problem) @ D
    assert torch.allclose(
        torch.tensor(report.curvature, dtype=torch.float64), truth, rtol=1e-10, atol=1e-12
    )
    inside = report.trust_region.inside
    for i in range(4):
        for j in range(4):
            gap = abs(report.quadratic[i][j] - report.loss[i][j])
            assert inside[i][j] == (gap <= 0.1 * abs(report.loss[i][j]))


# --------------------------------------------------------------------- interpolation
def product_model(w1: float, w2: float) -> nn.Module:
    """z = w₂·(w₁·x): with x = 1, y = 1 and mse, L = (w₁w₂ − 1)²."""
    model = nn.Sequential(nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False))
    with torch.no_grad():
        model[0].weight.fill_(w1)
        model[1].weight.fill_(w2)
    return model


def test_barrier_and_taylor_models_against_the_closed_form():
    """A = (1, 1), B = (−1, −1): L(α) = ((1 − 2α)² − 1)² = 16α²(α − 1)², barrier 1 at
    α = ½; at A g = 0 and ΔᵀHΔ = 32, so the Taylor model from A is 16α² (from B 16(α − 1)²)."""
    x = torch.ones(1, 1)
    problem = build_problem(product_model(1, 1), x, x.clone(), get_loss("mse"))
    ends = match_ends(problem, product_model(-1, -1), "a.pt", "b.pt")
    report = analyse_interpolation(problem, ends, InterpolationSettings(21, -0.5, 1.5, False))
    for a, loss, ta, tb in zip(
        report.alphas, report.loss, report.taylor.from_a, report.taylor.from_b, strict=True
    ):
        assert loss == pytest.approx(16 * a * a * (a - 1) ** 2, abs=1e-12)
        assert ta == pytest.approx(16 * a * a, abs=1e-12)
        assert tb == pytest.approx(16 * (a - 1) ** 2, abs=1e-12)
    assert report.barrier.value == pytest.approx(1.0, abs=1e-12)
    assert report.barrier.alpha == 0.5 and report.accuracy is None
    assert [e.curvature for e in report.endpoints] == pytest.approx([32.0, 32.0])
    assert report.buffers == "none" and report.distance == pytest.approx(8**0.5)


def bn_model(seed: int) -> SmallCNN:
    model = SmallCNN(seed).double()
    return model


def test_buffers_are_interpolated_or_re_estimated():
    x, y = cnn_data()
    problem = build_problem(bn_model(0), x, y, get_loss("cross-entropy"), batch_size=4)
    model_b = bn_model(1)
    ends = match_ends(problem, model_b, "a.pt", "b.pt")
    both = {}
    for reset in (False, True):
        both[reset] = analyse_interpolation(problem, ends, InterpolationSettings(3, 0, 1, reset))
    assert both[False].buffers == "interpolated"
    assert both[True].buffers == "re-estimated (--reset-bn)"
    a_state, b_state = problem.model.state_dict(), model_b.state_dict()
    for k, alpha in enumerate((0.0, 0.5, 1.0)):
        mixed = {
            n: (1 - alpha) * a_state[n] + alpha * b_state[n]
            if a_state[n].is_floating_point()
            else a_state[n]
            for n in a_state
        }
        model = SmallCNN().double()
        model.load_state_dict(mixed)
        model.eval()
        with torch.no_grad():
            assert both[False].loss[k] == pytest.approx(
                float(F.cross_entropy(model(x.double()), y)), abs=1e-12
            )
        batches = [x.double()[i : i + 4] for i in range(0, 10, 4)]
        torch.optim.swa_utils.update_bn(batches, model)  # momentum None over the same batches
        model.eval()
        with torch.no_grad():
            truth = float(F.cross_entropy(model(x.double()), y))
        assert both[True].loss[k] == pytest.approx(truth, abs=1e-12)
    assert torch.equal(problem.model.bn.running_mean, a_state["bn.running_mean"])
    assert not problem.model.bn.training  # back in eval mode, A's statistics kept


# ------------------------------------------------------------- through the command line
@pytest.fixture
def sample_b(tmp_path):
    """The sample's weights plus a seeded perturbation, as a plain state dict."""
    state = torch.load(SAMPLE_CHECKPOINT, weights_only=True)["state_dict"]
    g = torch.Generator().manual_seed(0)
    perturbed = {k: v + 0.05 * torch.randn(v.shape, generator=g) for k, v in state.items()}
    path = tmp_path / "b.pt"
    torch.save(perturbed, path)
    return path, state, perturbed


def sample_loss(state) -> tuple[float, float]:
    from sample_models.mlp import build

    ck = torch.load(SAMPLE_CHECKPOINT, weights_only=True)
    model = build(**ck["factory_kwargs"]).double().eval()
    model.load_state_dict(state)
    data = torch.load(SAMPLE_CHECKPOINT.parent / ck["data"], weights_only=True)
    with torch.no_grad():
        z = model(data["x"].double())
    accuracy = float((z.argmax(1) == data["y"]).double().mean())
    return float(F.cross_entropy(z, data["y"])), accuracy


def test_interpolation_endpoints_are_the_checkpoints_losses(
    tmp_path, sample_b, capsys, monkeypatch
):
    path, state_a, state_b = sample_b
    monkeypatch.chdir(tmp_path)
    r = run(
        ["interpolate", SAMPLE_CHECKPOINT, path, "--steps", "3", "--out", "out", "--json"],
        capsys,
        monkeypatch,
    )
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["command"] == "interpolate" and report["alphas"] == [0.0, 0.5, 1.0]
    for k, state in ((0, state_a), (2, state_b)):
        loss, accuracy = sample_loss(state)
        assert abs(report["loss"][k] - loss) <= 1e-10
        assert abs(report["accuracy"][k] - accuracy) <= 1e-12
        assert abs(report["taylor"]["from_a" if k == 0 else "from_b"][k] - loss) <= 1e-10
    assert set(report["barrier"]) == {"value", "alpha", "relative"}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "interpolate.png",
        "report.json",
    ]


def test_surface_json_with_direction_files_used_as_given(tmp_path, capsys, monkeypatch):
    state = torch.load(SAMPLE_CHECKPOINT, weights_only=True)["state_dict"]
    g = torch.Generator().manual_seed(1)
    for name in ("d1.pt", "d2.pt"):
        torch.save(
            {k: torch.randn(v.shape, generator=g) for k, v in state.items()}, tmp_path / name
        )
    monkeypatch.chdir(tmp_path)
    r = run(
        ["surface", "--directions", "d1.pt,d2.pt", "--grid", "2", "--range=-0.1,0.1", "--json"],
        capsys,
        monkeypatch,
    )
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["command"] == "surface" and report["x"] == report["y"] == [-0.1, 0.1]
    assert report["normalize"] == "none" and len(report["loss"]) == 2
    d1 = torch.load(tmp_path / "d1.pt", weights_only=True)
    d2 = torch.load(tmp_path / "d2.pt", weights_only=True)
    corner = {k: v.double() - 0.1 * d1[k].double() + 0.1 * d2[k].double() for k, v in state.items()}
    assert abs(report["loss"][0][1] - sample_loss(corner)[0]) <= 1e-10
    assert report["directions"][0]["norm"] == pytest.approx(
        float(torch.cat([d1[k].double().flatten() for k in state]).norm()), rel=1e-6
    )


def test_a_line_reports_one_axis(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    r = run(["surface", "--dims", "1", "--grid", "3", "--json"], capsys, monkeypatch)
    report = json.loads(r.out)
    assert r.code == 0 and report["y"] is None and report["minimum"]["y"] is None
    assert len(report["loss"]) == 3 and report["loss"][1] == pytest.approx(report["center_loss"])


def one_line_error(r, *fragments):
    assert r.code == 2 and r.out == "", (r.code, r.err)
    assert r.err.count("\n") == 1 and r.err.startswith("error:"), r.err
    for fragment in fragments:
        assert fragment in r.err, r.err


def test_bad_surface_inputs_are_one_line(tmp_path, capsys, monkeypatch):
    state = torch.load(SAMPLE_CHECKPOINT, weights_only=True)["state_dict"]
    renamed = {f"x{k}": v for k, v in state.items()}
    reshaped = {k: v.reshape(-1) if v.ndim > 1 else v for k, v in state.items()}
    torch.save(state, tmp_path / "ok.pt")
    torch.save(renamed, tmp_path / "names.pt")
    torch.save(reshaped, tmp_path / "shapes.pt")
    monkeypatch.chdir(tmp_path)
    cases = [
        (["--directions", "names.pt,ok.pt"], ["names.pt", "does not match θ", "missing"]),
        (["--directions", "ok.pt,shapes.pt"], ["shapes.pt", "wrong shape"]),
        (["--directions", "ok.pt"], ["1 file(s) for --dims 2"]),
        (["--range=1,-1"], ["--range", "a must be below b"]),
        (["--range=0,1,2"], ["not two numbers"]),
        (["--grid", "1"], ["--grid must be an integer ≥ 2"]),
        (["--dims", "3"], ["--dims must be 1 or 2"]),
        (["--normalize", "filtre"], ["unknown normalisation 'filtre'"]),
    ]
    for args, fragments in cases:
        r = run(["surface", SAMPLE_CHECKPOINT, *args], capsys, monkeypatch)
        one_line_error(r, *fragments)


def test_bad_interpolation_inputs_are_one_line(tmp_path, capsys, monkeypatch):
    from sample_models.mlp import build

    ck = torch.load(SAMPLE_CHECKPOINT, weights_only=True)
    other = build(**{**ck["factory_kwargs"], "hidden": [8]})
    torch.save(other.state_dict(), tmp_path / "other.pt")
    monkeypatch.chdir(tmp_path)
    sample = str(SAMPLE_CHECKPOINT)
    one_line_error(run(["interpolate", sample, "other.pt"], capsys, monkeypatch), "other.pt")
    one_line_error(run(["interpolate", sample], capsys, monkeypatch), "needs two checkpoints")
    one_line_error(
        run(["interpolate", sample, sample, "--range=1,0"], capsys, monkeypatch),
        "a must be below b",
    )
    one_line_error(
        run(["interpolate", sample, sample, "--steps", "1"], capsys, monkeypatch),
        "--steps must be an integer ≥ 2",
    )
    one_line_error(
        run(["interpolate", sample, sample, "--reset-bn"], capsys, monkeypatch),
        "no BatchNorm layer",
    )


def test_surface_on_two_ranks_equals_one_process(tmp_path, capsys, monkeypatch):
    """Each rank its shard, one reduction per group of points; the route (vmap or loop) is
    decided on the ranks' added timings, so both ranks take it."""
    from test_distributed import close, torchrun

    args = ["surface", "--grid", "3", "--json"]
    result = torchrun(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    two = json.loads(result.stdout)
    assert two["distributed"]["examples_per_rank"] == [512, 512]
    monkeypatch.chdir(tmp_path)
    one = json.loads(run(args, capsys, monkeypatch).out)
    for row_one, row_two in zip(one["loss"], two["loss"], strict=True):
        assert all(close(a, b) for a, b in zip(row_one, row_two, strict=True))
    assert all(close(a, b) for a, b in zip(one["slopes"], two["slopes"], strict=True))
    assert close(one["curvature"][0][1], two["curvature"][0][1])


def test_direction_files_load_safely(tmp_path, capsys, monkeypatch):
    """.safetensors files load; a pickle holding an object is refused without unpickling it."""
    from pathlib import PurePosixPath

    from safetensors.torch import save_file

    state = torch.load(SAMPLE_CHECKPOINT, weights_only=True)["state_dict"]
    save_file({k: torch.ones_like(v) for k, v in state.items()}, tmp_path / "d.safetensors")
    torch.save({**state, "note": PurePosixPath("x")}, tmp_path / "evil.pt")
    monkeypatch.chdir(tmp_path)
    base = ["surface", SAMPLE_CHECKPOINT, "--dims", "1", "--grid", "2", "--json"]
    r = run([*base, "--directions", "d.safetensors"], capsys, monkeypatch)
    assert r.code == 0, r.err
    assert json.loads(r.out)["directions"][0]["norm"] == pytest.approx(3300**0.5)
    one_line_error(run([*base, "--directions", "evil.pt"], capsys, monkeypatch), "evil.pt")
