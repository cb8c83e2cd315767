"""Extreme eigenpairs, trace and per-layer figures against dense float64 spectra."""

import pytest
import torch
from dense import dense_empirical_fisher, dense_ggn

from landscape.analyses.spectrum import analyse_spectrum
from landscape.api.settings import options_for, spectrum_settings
from landscape.curvature import DenseOperator, make_operator
from landscape.errors import InputError
from landscape.estimators.lanczos import extreme_eigenpairs


@pytest.fixture(scope="module")
def problem(mlp_problem):
    return mlp_problem


@pytest.fixture(scope="module")
def truths(problem, mlp_hessian):
    return {
        "hessian": mlp_hessian,
        "ggn": dense_ggn(problem),
        "ef": dense_empirical_fisher(problem),
    }


def check_pairs(result, eigenvalues, scale):
    top_true = eigenvalues.flip(0)[: len(result.top)]
    bottom_true = eigenvalues[: len(result.bottom)]
    for pairs, true in ((result.top, top_true), (result.bottom, bottom_true)):
        for pair, t in zip(pairs, true.tolist(), strict=True):
            assert abs(pair.value - t) <= 1e-8 * scale
            assert abs(pair.value - t) <= pair.error_bound + 1e-14 * scale
            assert pair.converged


@pytest.mark.parametrize("curvature", ["hessian", "ggn", "fisher", "ef"])
def test_top_and_bottom_match_dense(problem, truths, curvature):
    truth = truths["ggn" if curvature == "fisher" else curvature]
    eigenvalues = torch.linalg.eigvalsh(truth)
    scale = float(eigenvalues.abs().max())
    op = make_operator(curvature, problem)
    k_bottom = 5 if curvature == "hessian" else 0  # PSD: the bottom is a null space
    result = extreme_eigenpairs(op, 5, k_bottom, tol=1e-8)
    check_pairs(result, eigenvalues, scale)
    assert result.products == op.products
    assert result.converged


def test_hessian_is_indefinite_and_bottom_is_certified(problem, truths):
    eigenvalues = torch.linalg.eigvalsh(truths["hessian"])
    assert eigenvalues[0] < 0  # the test model has negative curvature to find
    result = extreme_eigenpairs(make_operator("hessian", problem), 0, 5, tol=1e-8)
    check_pairs(result, eigenvalues, float(eigenvalues.abs().max()))
    for pair, vec in zip(result.bottom, result.bottom_vectors.T, strict=True):
        residual = truths["hessian"] @ vec - pair.value * vec
        assert abs(float(residual.norm()) - pair.error_bound) < 1e-10


def test_thick_restart_reaches_the_same_values(problem, truths):
    eigenvalues = torch.linalg.eigvalsh(truths["hessian"])
    result = extreme_eigenpairs(make_operator("hessian", problem), 5, 5, tol=1e-8, max_basis=40)
    assert result.restarts > 0
    check_pairs(result, eigenvalues, float(eigenvalues.abs().max()))


def test_analytic_spectrum_and_seeds():
    torch.manual_seed(3)
    Q, _ = torch.linalg.qr(torch.randn(300, 300, dtype=torch.float64))
    lam = torch.cat(
        [
            torch.tensor([50.0, 20.0, 10.0]),
            torch.linspace(-1, 1, 294),
            torch.tensor([-5.0, -8.0, -30.0]),
        ]
    ).double()
    A = DenseOperator(Q @ torch.diag(lam) @ Q.T)
    r1 = extreme_eigenpairs(A, 3, 3, tol=1e-10, seed=1)
    r2 = extreme_eigenpairs(A, 3, 3, tol=1e-10, seed=1)
    assert [e.value for e in r1.top] == pytest.approx([50, 20, 10], rel=1e-12)
    assert [e.value for e in r1.bottom] == pytest.approx([-30, -8, -5], rel=1e-12)
    assert [e.value for e in r1.top] == [e.value for e in r2.top]


def test_impossible_requests_are_input_errors(problem):
    op = make_operator("hessian", problem)
    with pytest.raises(InputError, match="larger than the number of parameters"):
        extreme_eigenpairs(op, problem.num_params + 1, 0, tol=1e-6)
    with pytest.raises(InputError, match="tol"):
        extreme_eigenpairs(op, 1, 0, tol=0)


def test_spectrum_trace_and_per_layer(problem, truths):
    H = truths["hessian"]
    op = make_operator("hessian", problem)
    options = options_for("spectrum", per_layer=True, tol=1e-8, trace=True, density=True)
    settings = spectrum_settings(options, op.num_params)
    report = analyse_spectrum(problem, op, settings)
    exact = float(torch.trace(H))
    assert abs(report.trace.value - exact) <= 3 * report.trace.stderr
    for block, layer in zip(problem.blocks(), report.per_layer, strict=True):
        sub = H[block.slice, block.slice]
        assert layer.lambda_max.value == pytest.approx(
            float(torch.linalg.eigvalsh(sub)[-1]), rel=1e-8
        )
        assert abs(layer.trace.value - float(torch.trace(sub))) <= 3 * layer.trace.stderr + 1e-9
    eig = torch.linalg.eigvalsh(H)
    frac = float((eig < 0).double().mean())
    cond = report.condition
    assert cond.lambda_min == pytest.approx(float(eig[0]), rel=1e-8)
    assert cond.negative_ratio == pytest.approx(float(-eig[0] / eig[-1]), rel=1e-7)
    lo, hi = cond.negative_fraction_interval
    assert lo <= frac <= hi
    assert report.products == op.products


def test_multiplicity_check_finds_every_copy_of_a_repeated_eigenvalue():
    """Linear least squares with C outputs: G = H = I_C ⊗ (2/(N·C)) XᵀX, every eigenvalue
    C-fold. One Krylov vector sees one copy; the check's fresh vectors find the others."""
    from torch import nn

    from landscape.losses import get_loss
    from landscape.problem import build_problem

    torch.manual_seed(0)
    x, y = torch.randn(200, 12), torch.randn(200, 3)
    problem = build_problem(nn.Linear(12, 3, bias=False), x, y, get_loss("mse"))
    eigenvalues = torch.linalg.eigvalsh(make_operator("hessian", problem).dense())
    top_true, bottom_true = eigenvalues.flip(0)[:5].tolist(), eigenvalues[:4].tolist()
    assert top_true[0] == pytest.approx(top_true[2], rel=1e-12)  # three copies on top
    plain = extreme_eigenpairs(make_operator("hessian", problem), 5, 4, tol=1e-8)
    checked = extreme_eigenpairs(
        make_operator("hessian", problem), 5, 4, tol=1e-8, multiplicity_check=True
    )
    missed = [e.value for e in plain.top] != pytest.approx(top_true, rel=1e-8)
    assert missed  # the plain solve really lists the top eigenvalue fewer than 3 times
    assert [e.value for e in checked.top] == pytest.approx(top_true, rel=1e-8)
    assert [e.value for e in checked.bottom] == pytest.approx(bottom_true, rel=1e-8)
    assert checked.converged and checked.products > plain.products


def test_multiplicity_check_changes_nothing_on_a_simple_spectrum(problem, truths):
    eigenvalues = torch.linalg.eigvalsh(truths["hessian"])
    result = extreme_eigenpairs(
        make_operator("hessian", problem), 5, 5, tol=1e-8, multiplicity_check=True
    )
    check_pairs(result, eigenvalues, float(eigenvalues.abs().max()))
