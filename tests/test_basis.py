"""The Krylov basis in a memory budget: small, float32 or on the host, against dense truth."""

import json

import pytest
import torch
from cli import run
from dense import classification_problem, dense_hessian

from landscape.api.settings import memory_of as parse_bytes
from landscape.curvature import make_operator
from landscape.errors import InputError
from landscape.estimators import basis as basis_module
from landscape.estimators.basis import (
    MAX_BASIS,
    Basis,
    BasisBudget,
    minimum_vectors,
    plan_basis,
)
from landscape.estimators.lanczos import extreme_eigenpairs


@pytest.fixture(scope="module")
def problem():
    return classification_problem(n=128, sizes=(12, 24, 16, 4), batch_size=50)


@pytest.fixture(scope="module")
def eigenvalues(problem):
    return torch.linalg.eigvalsh(dense_hessian(problem))


def errors(result, eigenvalues) -> list[float]:
    """|θ − λ| of each pair against the dense eigenvalues, top then bottom."""
    top = eigenvalues.flip(0)[: len(result.top)].tolist()
    bottom = eigenvalues[: len(result.bottom)].tolist()
    pairs = zip(result.top + result.bottom, top + bottom, strict=True)
    return [abs(e.value - t) for e, t in pairs]


def solve(problem, tol, budget=None):
    return extreme_eigenpairs(make_operator("hessian", problem), 5, 5, tol=tol, basis_budget=budget)


def test_a_budget_that_forces_a_small_basis_gives_the_same_eigenvalues(problem, eigenvalues):
    p, scale = problem.num_params, float(eigenvalues.abs().max())
    default = solve(problem, 1e-8)
    small = solve(problem, 1e-8, BasisBudget(memory=41 * p * 8))  # 40 float64 vectors
    assert default.basis.vectors == min(MAX_BASIS, p) and default.restarts == 0
    assert (small.basis.vectors, small.basis.dtype, small.basis.bytes) == (
        40,
        "float64",
        41 * p * 8,
    )
    assert small.restarts > 0 and small.converged
    for result in (default, small):
        for e, err in zip(result.top + result.bottom, errors(result, eigenvalues), strict=True):
            assert err <= 1e-8 * scale and err <= e.error_bound + 1e-14 * scale


def test_float32_basis_for_a_float64_model_against_dense_truth(problem, eigenvalues):
    """The stored vectors are float32, the coefficients float64: measured here, the values
    are as exact as a float64 basis' (the Rayleigh quotient's error is the residual squared),
    and the residual reaches tol 1e-6 (its floor is float32 rounding, ~3e-8·max|λ|)."""
    p, scale = problem.num_params, float(eigenvalues.abs().max())
    result = solve(problem, 1e-6, BasisBudget(memory=41 * p * 4))  # float64 holds only 19
    assert (result.basis.dtype, result.basis.vectors) == ("float32", 40)
    assert result.converged and result.restarts > 0
    reference = solve(problem, 1e-6, BasisBudget(memory=41 * p * 8))  # the same size, float64
    for e, err, ref in zip(
        result.top + result.bottom,
        errors(result, eigenvalues),
        errors(reference, eigenvalues),
        strict=True,
    ):
        assert e.error_bound <= 1e-6 * scale
        assert err <= 1e-10 * scale and err <= max(10 * ref, 1e-14 * scale)


def test_multiplicity_check_with_a_float32_basis(problem, eigenvalues):
    """Locking and re-solving go through the float32 basis too (its overlaps in float64)."""
    p, scale = problem.num_params, float(eigenvalues.abs().max())
    op = make_operator("hessian", problem)
    budget = BasisBudget(memory=18 * p * 4)  # 17 float32 vectors, the minimum is 16
    result = extreme_eigenpairs(op, 3, 3, tol=1e-6, multiplicity_check=True, basis_budget=budget)
    assert (result.basis.dtype, result.basis.vectors) == ("float32", 17)
    assert result.multiplicity == "verified" and result.converged
    assert max(errors(result, eigenvalues)) <= 1e-10 * scale


def test_host_basis_mechanics(problem, eigenvalues):
    """Forced onto the host, the basis is on the CPU in float64 and gives the same values (on
    a CPU machine that is the operator's device too: tests/test_cuda.py runs it across)."""
    result = solve(problem, 1e-8, BasisBudget(host=True))
    assert (result.basis.device, result.basis.dtype, result.basis.pinned) == (
        "cpu",
        "float64",
        False,
    )
    assert max(errors(result, eigenvalues)) <= 1e-8 * float(eigenvalues.abs().max())
    assert result.top_vectors.device == torch.device("cpu")


def test_float32_blocks_are_float64_sums(monkeypatch):
    """The float32 basis' products, read a column block at a time (blocks forced small),
    equal float64 products with the stored vectors: dot, combine, subtract, restart."""
    monkeypatch.setattr(basis_module, "CHUNK_BYTES", 8 * 7 * 9)  # 9 columns a block
    gen = torch.Generator().manual_seed(0)
    p, m = 101, 7
    b = Basis(p, plan_basis(p, 1, "cpu", BasisBudget(memory=(m + 1) * p * 4 + 1)))
    assert b.V.dtype == torch.float32 and b.size == m
    b.V[:m] = torch.randn(m, p, generator=gen, dtype=torch.float64)  # rounded to float32
    b.m = m
    V = b.V[:m].double()
    w = torch.randn(p, generator=gen, dtype=torch.float64)
    Y = torch.randn(m, 3, generator=gen, dtype=torch.float64)
    h = torch.randn(m, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(b.dot(slice(0, m), w), V @ w, rtol=1e-14, atol=1e-13)
    torch.testing.assert_close(b.combine(Y, m), V.T @ Y, rtol=1e-14, atol=1e-13)
    expected, address = w - h @ V, w.data_ptr()
    result = b.subtract(w, slice(0, m), h)
    assert result.data_ptr() == address  # in place: no p-sized copy
    torch.testing.assert_close(result, expected, rtol=1e-14, atol=1e-13)
    b.replace_leading(Y)
    torch.testing.assert_close(b.V[:3].double(), (Y.T @ V).float().double())


def test_plan_order_and_minimum():
    p, mb = 10_000, 10**6
    assert minimum_vectors(p, 10) == 24 and minimum_vectors(20, 10) == 20
    f64 = plan_basis(p, 10, "cpu", BasisBudget(memory=2 * mb))  # 25 rows of 80 kB
    assert (f64.dtype, f64.vectors, f64.bytes, f64.budget) == ("float64", 24, 25 * p * 8, 2 * mb)
    f32 = plan_basis(p, 10, "cpu", BasisBudget(memory=int(1.9 * mb)))
    assert (f32.dtype, f32.vectors) == ("float32", 46)
    with pytest.raises(InputError) as too_small:
        plan_basis(p, 10, "cpu", BasisBudget(memory=mb - 1))  # 24 float32 rows of 40 kB
    assert "budget 1MB is too small" in too_small.value.problem
    assert "24 vectors" in too_small.value.problem
    assert too_small.value.fix.startswith("give the basis 1MB or more")  # 25 rows of 40 kB
    assert "give --basis-memory 1MB or more" in too_small.value.naming("--basis-memory", "--k").fix
    exact = plan_basis(p, 10, "cpu", BasisBudget(memory=mb))  # and that holds
    assert (exact.dtype, exact.vectors) == ("float32", 24)
    with pytest.raises(InputError, match="25% of the free memory is too small"):
        plan_basis(10**13, 1, "cpu")  # the default budget: a quarter of what is free
    with pytest.raises(InputError, match=r"budget 100TB \(of which .* is free\) is too small"):
        plan_basis(10**13, 1, "cpu", BasisBudget(memory=10**14))  # more than is free


def test_parse_bytes():
    assert parse_bytes("2GB", "--x") == 2 * 10**9
    assert parse_bytes("500 MB", "--x") == 500 * 10**6
    assert parse_bytes("1.5GiB", "--x") == int(1.5 * 2**30)
    assert parse_bytes(123456, "--x") == 123456
    assert parse_bytes(None, "--x") is None
    for bad in ("2XB", "GB", "-1GB", "0", "inf"):
        with pytest.raises(InputError):
            parse_bytes(bad, "--basis-memory")


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    return lambda *args: run(list(args), capsys, monkeypatch)


def test_the_report_says_where_the_basis_lives(cli):
    r = cli("spectrum", "--json", "--basis-memory", "600kB", "--k", "5")
    assert r.code == 0
    solver = json.loads(r.out)["solver"]
    assert solver["basis"] == {
        "device": "cpu",
        "dtype": "float32",
        "vectors": 44,  # 600 kB / (3,300 × 4 bytes) = 45 rows, one of them the residual
        "bytes": 45 * 3300 * 4,
        "budget": 600_000,
        "pinned": False,
    }
    assert solver["converged"] and solver["restarts"] > 0
    view = cli("spectrum", "--k", "1", "--k-bottom", "0")
    assert "Krylov basis     up to 300 float64 vectors on cpu: 7.95MB of a" in view.out


def test_a_budget_too_small_for_k_is_one_line(cli):
    r = cli("spectrum", "--basis-memory", "200kB")
    assert r.code == 2 and r.out == ""
    line = [x for x in r.err.splitlines() if x.startswith("error:")]
    assert len(line) == 1 and "Traceback" not in r.err
    assert "the basis budget 200kB is too small" in line[0]
    assert "10 eigenvalues need at least 24 vectors of 3,300 parameters" in line[0]
    assert "give --basis-memory 330kB or more" in line[0]
    assert "--basis-memory 330kB" in line[0]
    bad = cli("spectrum", "--basis-memory", "lots")
    assert bad.code == 2 and "--basis-memory 'lots' is not a memory size" in bad.err


def test_bfloat16_top_eigenvalue_is_within_bfloat16_precision_of_float64(cli):
    """Products in bfloat16 (8 significant bits), the solver's sums in float64: the top
    eigenvalue of the sample within 1e-2 (relative) of float64's, at the bfloat16 default
    tolerance (1e-2; float64's is 1e-6, float32's 1e-4), certified by its own bound."""
    args = ("spectrum", "--json", "--k", "1", "--k-bottom", "0", "--trace-samples", "3")
    runs = {dtype: cli(*args, "--dtype", dtype) for dtype in ("float64", "float32", "bfloat16")}
    assert all(r.code == 0 for r in runs.values()), runs["bfloat16"].err
    reports = {dtype: json.loads(r.out) for dtype, r in runs.items()}
    assert [reports[d]["solver"]["tol"] for d in reports] == [1e-6, 1e-4, 1e-2]
    assert reports["bfloat16"]["dtype"] == "bfloat16"
    exact = reports["float64"]["top"][0]["value"]
    bf16 = reports["bfloat16"]["top"][0]
    assert abs(bf16["value"] - exact) <= 1e-2 * abs(exact)
    assert 1e-4 * abs(exact) < abs(bf16["value"] - exact)  # it is bfloat16: not float64's
    assert bf16["converged"] and bf16["error_bound"] <= 1e-2 * abs(bf16["value"])
    assert reports["bfloat16"]["solver"]["basis"]["dtype"] == "float64"
    given = cli(*args, "--dtype", "bfloat16", "--tol", "0.05")
    assert json.loads(given.out)["solver"]["tol"] == 0.05  # a --tol given is kept


def test_a_small_float32_basis_on_two_ranks_equals_one_process(tmp_path, capsys, monkeypatch):
    """Every rank grows the same basis (the solver is replicated): a budget that forces a
    small float32 one gives the same eigenvalues on two gloo ranks as in one process."""
    from test_distributed import close, torchrun

    args = ["spectrum", "--k", "3", "--k-bottom", "2", "--basis-memory", "300kB", "--json"]
    args += ["--trace-samples", "3"]
    result = torchrun(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    two = json.loads(result.stdout)
    monkeypatch.chdir(tmp_path)
    one = json.loads(run(args, capsys, monkeypatch).out)
    assert two["solver"]["basis"] == one["solver"]["basis"]
    assert one["solver"]["basis"]["dtype"] == "float32" and one["solver"]["restarts"] > 0
    assert two["solver"]["products"] == one["solver"]["products"]
    for end in ("top", "bottom"):
        for a, b in zip(one[end], two[end], strict=True):
            assert close(a["value"], b["value"]) and a["converged"] and b["converged"]
