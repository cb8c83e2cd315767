"""Every curvature product route against dense float64 truths."""

import pytest
import torch
from dense import (
    classification_problem,
    dense_empirical_fisher,
    dense_ggn,
    dense_hessian,
)
from torch import nn

from landscape.curvature import DifferenceOperator, make_operator
from landscape.losses import get_loss
from landscape.problem import build_problem

LOSSES = ["cross-entropy", "bce", "mse"]


def rel(a, b):
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("layernorm", [False, True])
@pytest.mark.parametrize("strategy", ["kept-graph", "double-backward", "forward-over-reverse"])
def test_hessian_routes_match_dense(strategy, layernorm):
    problem = classification_problem(n=30, batch_size=7, layernorm=layernorm)
    H = dense_hessian(problem)
    op = make_operator("hessian", problem, strategy=strategy)
    assert rel(op.dense(), H) < 1e-12


def test_layernorm_hessian_matches_finite_differences():
    """The dense truth itself, checked against central differences of the gradient."""
    problem = classification_problem(n=20, sizes=(3, 5, 2), layernorm=True)
    theta = problem.flat_params()
    h = 1e-5
    eye = torch.eye(problem.num_params, dtype=torch.float64)
    fd = torch.stack(
        [
            (problem.gradient(theta + h * e) - problem.gradient(theta - h * e)) / (2 * h)
            for e in eye
        ],
        dim=1,
    )
    assert rel(dense_hessian(problem), fd) < 1e-7


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("strategy", ["kept-graph", "double-backward"])
def test_ggn_fisher_ef_match_dense(loss, strategy):
    problem = classification_problem(n=30, batch_size=8, loss=loss)
    G = dense_ggn(problem)
    assert rel(make_operator("ggn", problem, strategy=strategy).dense(), G) < 1e-12
    EF = dense_empirical_fisher(problem)
    assert rel(make_operator("ef", problem, strategy=strategy).dense(), EF) < 1e-12
    assert rel(EF, G) > 0.05  # the empirical Fisher is a different matrix


@pytest.mark.parametrize("loss", LOSSES)
def test_exact_fisher_equals_ggn(loss):
    problem = classification_problem(n=25, loss=loss)
    F = make_operator("fisher", problem).dense()
    G = dense_ggn(problem)
    assert float((F - G).abs().max()) <= 1e-10 * float(G.abs().max())


def test_nll_on_log_probabilities_shares_cross_entropy_curvature():
    ce = classification_problem(n=25, loss="cross-entropy")
    nll = classification_problem(n=25, loss="nll")
    for name in ("hessian", "ggn", "fisher"):
        a = make_operator(name, ce).dense()
        b = make_operator(name, nll).dense()
        assert rel(b, a) < 1e-12


@pytest.mark.parametrize("loss", LOSSES)
def test_monte_carlo_fisher_approaches_ggn(loss):
    problem = classification_problem(n=25, loss=loss)
    G = dense_ggn(problem)
    errors = [rel(make_operator("fisher", problem, mc_samples=s).dense(), G) for s in (4, 64, 1024)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.2 * errors[0]  # ~1/√S: 16× more samples, 4× smaller
    again = make_operator("fisher", problem, mc_samples=4).dense()
    assert rel(again, make_operator("fisher", problem, mc_samples=4).dense()) == 0.0  # seeded


def test_linear_least_squares_hessian_equals_ggn():
    torch.manual_seed(0)
    x, y = torch.randn(50, 6), torch.randn(50, 2)
    problem = build_problem(nn.Linear(6, 2), x, y, get_loss("mse"), batch_size=16)
    H = make_operator("hessian", problem).dense()
    G = make_operator("ggn", problem).dense()
    assert rel(H, G) < 1e-13
    X = torch.cat([x.double(), torch.ones(50, 1, dtype=torch.float64)], 1)
    # weights are row-major (out, in) then the bias: H = (2/(N·C)) I_C ⊗ XᵀX in that order
    XtX = X.T @ X * 2 / (50 * 2)
    closed = torch.zeros(14, 14, dtype=torch.float64)
    for c in range(2):
        w = slice(6 * c, 6 * c + 6)
        closed[w, w] = XtX[:6, :6]
        closed[w, 12 + c] = closed[12 + c, w] = XtX[:6, 6]
        closed[12 + c, 12 + c] = XtX[6, 6]
    assert rel(H, closed) < 1e-13
    T = DifferenceOperator(make_operator("hessian", problem), make_operator("ggn", problem))
    assert float(T.dense().abs().max()) < 1e-14


def test_uneven_last_batch_is_exact():
    full = classification_problem(n=23, batch_size=23)
    split = classification_problem(n=23, batch_size=5)
    assert abs(full.loss_at() - split.loss_at()) < 1e-14
    assert rel(make_operator("hessian", split).dense(), dense_hessian(full)) < 1e-12
    assert rel(make_operator("ggn", split).dense(), dense_ggn(full)) < 1e-12


def test_block_products_equal_single_products():
    problem = classification_problem(n=20)
    for name in ("hessian", "ggn", "ef"):
        op = make_operator(name, problem)
        V = torch.randn(problem.num_params, 3, dtype=torch.float64)
        single = torch.stack([op.matvec(V[:, j]) for j in range(3)], 1)
        assert rel(op.matmat(V), single) < 1e-13
        assert op.products == 6


def test_graphs_that_do_not_fit_fall_back_to_recomputation(monkeypatch):
    from landscape.curvature import memory

    problem = classification_problem(n=30, batch_size=8)
    assert make_operator("hessian", problem).strategy == "kept-graph"
    monkeypatch.setattr(memory, "free_memory_bytes", lambda device: 1000)  # graphs need more
    H, G = dense_hessian(problem), dense_ggn(problem)
    hessian, ggn = make_operator("hessian", problem), make_operator("ggn", problem)
    assert (hessian.strategy, ggn.strategy) == ("double-backward", "double-backward")
    assert rel(hessian.dense(), H) < 1e-12
    assert rel(ggn.dense(), G) < 1e-12
    assert memory.saved_bytes(lambda: problem.gradient()) > 0
