"""`ls.track` over a full-batch GD run that sharpens to the edge of stability: every λ_max
against a dense float64 Hessian, the order, warm against cold products, the proxy's closed
form on a quadratic, the cache, bad input."""

import shutil

import pytest
import torch
from dense import dense_hessian
from torch import nn

import landscape as ls
from landscape.analyses.track.proxy import critical_sharpness
from landscape.losses import get_loss
from landscape.problem import build_problem


def _model(seed=0, hidden=12):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(5, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 2)
    ).double()


def _data(n=48):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 5, generator=g, dtype=torch.float64), torch.randn(
        n, 2, generator=g, dtype=torch.float64
    )


def _train(folder, steps, save, lr=0.65, name="ck_{t}.pt", meta=True):
    """Full-batch GD (2/lr ≈ 3.1, which λ_max sharpens up to); checkpoints at `save` steps."""
    model, (x, y) = _model(), _data()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for t in range(steps + 1):
        if t in save:
            blob = {"state_dict": model.state_dict(), "optimizer": opt.state_dict()}
            blob.update({"step": t} if meta else {})
            torch.save(blob if meta else model.state_dict(), folder / name.format(t=t))
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    return model


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    _train(folder, 400, {0, 100, 200, 300, 400})
    return folder


def _dense_top(state):
    model, (x, y) = _model(), _data()
    model.load_state_dict(state)
    problem = build_problem(model, x, y, get_loss("mse"), batch_size=None, dtype=torch.float64)
    return float(torch.linalg.eigvalsh(dense_hessian(problem))[-1])


def test_every_lambda_max_is_the_dense_truth_within_its_bound(run):
    report = ls.track(_model(), run, _data(), "mse", dtype="float64", tol=1e-6)
    assert [r.step for r in report.checkpoints] == [0, 100, 200, 300, 400]
    assert report.order == "step"
    for row in report.checkpoints:
        truth = _dense_top(torch.load(row.path)["state_dict"])
        pair = row.top[0]
        assert pair.converged and abs(pair.value - truth) <= pair.error_bound + 1e-12
        assert row.lr == pytest.approx(0.65) and row.edge == pytest.approx(2 / 0.65)
        assert row.loss is not None and row.proxy is not None
    values = [r.top[0].value for r in report.checkpoints]
    assert values[-1] > 1.5 * values[0]  # it sharpened
    doc = report.to_dict()
    assert doc["command"] == "track" and set(doc["checkpoints"][0]["top"][0]) == {
        "value",
        "error_bound",
        "converged",
    }


def test_warm_takes_at_most_half_of_cold_over_consecutive_steps(tmp_path):
    """Thirteen consecutive steps at the edge of stability (λ_max oscillating about 2/η):
    measured 0.23 (cold 21-24 products a solve, warm 3-6)."""
    _train(tmp_path, 912, set(range(900, 913)))
    kw = dict(dtype="float64", tol=1e-3, metrics=("lambda_max",))
    warm = ls.track(_model(), tmp_path, _data(), "mse", **kw)
    cold = ls.track(_model(), tmp_path, _data(), "mse", cold=True, **kw)
    for w, c in zip(warm.checkpoints, cold.checkpoints, strict=True):
        assert abs(w.top[0].value - c.top[0].value) <= w.top[0].error_bound + c.top[0].error_bound
    ratio = sum(r.products for r in warm.checkpoints[1:]) / sum(
        r.products for r in cold.checkpoints[1:]
    )
    assert ratio <= 0.5, ratio


def test_order_by_file_name_number_and_unrecorded_steps(tmp_path):
    _train(tmp_path, 20, {2, 10, 20}, name="w{t}.pt", meta=False)
    report = ls.track(_model(), str(tmp_path / "w*.pt"), _data(), "mse", metrics=("loss",))
    assert report.order == "file name number"
    assert [r.path.split("/")[-1] for r in report.checkpoints] == ["w2.pt", "w10.pt", "w20.pt"]


def test_the_cache_computes_only_new_checkpoints(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _train(src, 20, {0, 10, 20})
    run, cache = tmp_path / "run", tmp_path / "cache"
    run.mkdir()
    for t in (0, 10):
        shutil.copy(src / f"ck_{t}.pt", run)
    first = ls.track(_model(), run, _data(), "mse", dtype="float64", cache=cache)
    shutil.copy(src / "ck_20.pt", run)
    second = ls.track(_model(), run, _data(), "mse", dtype="float64", cache=cache)
    assert [r.cached for r in first.checkpoints] == [False, False]
    assert [r.cached for r in second.checkpoints] == [True, True, False]
    assert second.checkpoints[0].top == first.checkpoints[0].top


def test_proxy_is_the_curvature_along_the_gradient_on_a_quadratic():
    """L = ½ θᵀHθ: 2/η_c = gᵀHg / gᵀg exactly; the bracket must hold it."""
    H = torch.diag(torch.tensor([4.0, 1.0, 0.25], dtype=torch.float64))
    model = nn.Linear(3, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, -2.0, 3.0]]))
    x = torch.linalg.cholesky(H).T.contiguous()  # rows: ½·mean over 3 of (x_i θ)² … scaled below
    problem = build_problem(
        model, x, torch.zeros(3, 1, dtype=torch.float64), get_loss("mse"), dtype=torch.float64
    )
    loss, g = problem.loss_and_gradient()
    Hd = dense_hessian(problem)
    closed = float(g @ Hd @ g / (g @ g))
    p = critical_sharpness(problem, loss, g, guess=0.1)
    assert p.losses <= 9 and abs(p.value - closed) <= p.error_bound


def test_bad_inputs_name_the_file(tmp_path):
    _train(tmp_path, 0, {0})
    other = _model(hidden=7)
    torch.save({"state_dict": other.state_dict(), "step": 5}, tmp_path / "ck_5.pt")
    with pytest.raises(ls.InputError, match="ck_5.pt.*another architecture"):
        ls.track(_model(), tmp_path, _data(), "mse")
    with pytest.raises(ls.InputError, match="matches no checkpoint"):
        ls.track(_model(), str(tmp_path / "none*.pt"), _data(), "mse")
    torch.save({"state_dict": _model().state_dict(), "step": 1}, tmp_path / "ck_5.pt")
    with pytest.raises(ls.InputError, match="ck_0.pt.*no Adam second moment"):  # SGD's state
        ls.track(_model(), tmp_path, _data(), "mse", metrics=("adam",))
    (tmp_path / "ck_0.pt").unlink()
    with pytest.raises(ls.InputError, match="ck_5.pt.*no optimizer state"):
        ls.track(_model(), tmp_path, _data(), "mse", metrics=("adam",))


def test_a_failing_checkpoint_is_reported_in_its_row(tmp_path):
    _train(tmp_path, 10, {0, 10})
    blob = torch.load(tmp_path / "ck_10.pt")
    blob["state_dict"]["0.weight"][0, 0] = float("nan")
    torch.save(blob, tmp_path / "ck_10.pt")
    report = ls.track(_model(), tmp_path, _data(), "mse", metrics=("lambda_max",))
    assert report.checkpoints[0].error is None and "NaN" in report.checkpoints[1].error
    assert len(report.failed) == 1
