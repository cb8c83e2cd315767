"""Every command's default run (no options beyond the model, its data and factory) finishes
on ordinary small models: a trained tanh MLP on digits, a ReLU CNN, a BatchNorm CNN, a tiny
GPT-2 and a tiny BERT; and ggn-gap's default on the MLP matches its dense float64 truth."""

from __future__ import annotations

import json

import default_models
import numpy as np
import pytest
import torch
from cli import run
from dense import dense_hessian
from torch.func import functional_call, jacrev

from landscape.analyses.taylor.settings import FLOOR_FACTOR
from landscape.losses import get_loss
from landscape.problem import build_problem, unflatten

MODELS = ["mlp", "cnn", "bn_cnn", "gpt2", "bert"]
COMMANDS = ["params", "spectrum", "ggn-gap", "taylor-check", "sharpness", "surface"]
COMMANDS += ["interpolate", "gate"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Each model saved once (weights, a second checkpoint for interpolate, data)."""
    pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("models")
    return {name: default_models.save(name, folder) for name in MODELS}


def default_args(command: str, args: list[str], second: str) -> list[str]:
    if command == "params":  # the model alone
        return [command, *args[:3]]
    if command == "interpolate":
        return [command, args[0], second, *args[1:]]
    if command == "gate":  # a gate needs a threshold: a loose one
        return [command, *args, "--max", "lambda_max=1e9"]
    return [command, *args]


@pytest.mark.parametrize(
    ("command", "name"),
    # ggn-gap on the MLP: the dense-truth test below runs it
    [(c, n) for c in COMMANDS for n in MODELS if (c, n) != ("ggn-gap", "mlp")],
)
def test_the_default_run_finishes(command, name, saved, capsys, monkeypatch):
    args, second = saved[name]
    r = run([*default_args(command, args, second), "--json"], capsys, monkeypatch)
    assert r.code == 0, r.err
    report = json.loads(r.out)
    if command == "taylor-check":  # a residual the table shows is never "at the floor"
        for d in report["directions"]:
            r2 = next(c for c in d["checks"] if c["residual"] == "r2_hessian")
            if r2["status"] == "exact":
                assert all(s["r2_hessian"] < FLOOR_FACTOR * s["noise"] for s in d["steps"])


def _dense_ggn_softmax(problem) -> torch.Tensor:
    """G = (1/N) Σ J_iᵀ (diag p_i − p_i p_iᵀ) J_i: softmax cross-entropy's H_L in closed
    form, J by jacrev (independent of the tool's GGN operator)."""
    x = torch.cat([b[0] for b in problem.batches])

    def outputs(flat):
        params = dict(zip(problem.names, unflatten(flat, problem.params), strict=True))
        return functional_call(problem.model, params, (x,))

    theta = problem.flat_params()
    J = jacrev(outputs)(theta)  # (N, C, p)
    p = torch.softmax(outputs(theta).detach(), dim=1)
    HL = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    return torch.einsum("ncp,ncd,ndq->pq", J, HL, J) / len(x)


def test_ggn_gap_default_on_a_trained_mlp_matches_the_dense_truth(saved, capsys, monkeypatch):
    """The GGN's bottom is a cluster at 0 (9 exact zeros: the softmax's shift directions, then
    a continuum from the fit examples). It used to exhaust its product cap (exit 3); now each
    smallest eigenvalue is the interval [0, μ_i] that holds the i-th smallest."""
    args, _ = saved["mlp"]
    r = run(["ggn-gap", *args, "--json"], capsys, monkeypatch)
    assert r.code == 0, r.err
    report = json.loads(r.out)
    model = default_models.build_mlp()
    model.load_state_dict(torch.load(args[0]))
    data = torch.load(args[4])
    problem = build_problem(
        model.double(), data["x"].double(), data["y"], get_loss("cross-entropy")
    )
    H, G = dense_hessian(problem), _dense_ggn_softmax(problem)
    truth = {key: np.linalg.eigvalsh(M.numpy()) for key, M in (("hessian", H), ("ggn", G))}
    truth["t"] = np.linalg.eigvalsh((H - G).numpy())
    scale = float(truth["hessian"][-1])
    assert int((truth["ggn"] < 1e-6 * truth["ggn"][-1]).sum()) >= 5  # the cluster at 0
    for key in ("hessian", "ggn", "t"):
        tops, bottoms = report[key]["top"], report[key]["bottom"]
        assert len(tops) == 5 and len(bottoms) == (5 if key != "ggn" else len(bottoms))
        for e, lam in [*zip(tops, truth[key][::-1]), *zip(bottoms, truth[key])]:
            assert e["converged"]  # the i-th eigenvalue lies within the printed interval
            assert abs(e["value"] - lam) <= e["error_bound"] + 1e-9 * scale, (key, e, lam)
    listed = report["ggn"]["bottom"]  # [0, μ_i] within tol·max|λ_G|, as many as were found
    assert 1 <= len(listed) <= 5
    assert all(e["value"] == e["error_bound"] <= 1e-6 * truth["ggn"][-1] for e in listed)
    assert "[0, μ_i]" in report["ggn"]["note"]
    if len(listed) < 5:
        assert f"only {len(listed)} listed" in report["ggn"]["note"]
    gap = float(torch.linalg.matrix_norm(H - G) / torch.linalg.matrix_norm(H))
    f = report["frobenius_gap"]
    assert abs(f["value"] - gap) <= 4 * f["stderr"]


def test_a_psd_cluster_at_zero_is_reported_as_intervals_that_hold_the_ith_smallest():
    """Six exact zeros below a spectrum from 1e-3: one Krylov space lists 1e-3 ± 2e-16 as
    the 3rd smallest (it is 0); the intervals [0, μ_i], after the locked re-solves, hold it."""
    from landscape.analyses.ggn_gap import psd_bottom
    from landscape.curvature import DenseOperator
    from landscape.estimators.lanczos import extreme_eigenpairs

    g = torch.Generator().manual_seed(0)
    p = 120
    lam = torch.cat([torch.zeros(6), torch.logspace(-3, 0, p - 6)]).double()
    Q, _ = torch.linalg.qr(torch.randn(p, p, generator=g, dtype=torch.float64))
    A = DenseOperator((Q * lam) @ Q.T, psd=True)
    plain = extreme_eigenpairs(A, 3, 3, tol=1e-6)
    assert plain.bottom[2].value > 1e-4 and plain.bottom[2].converged  # past the cluster

    def recount():
        return extreme_eigenpairs(A, 3, 3, tol=1e-6, multiplicity_check=True)

    eig, note = psd_bottom(A, plain, 1e-6, recount)
    assert 1 <= len(eig.bottom) <= 3 and "[0, μ_i]" in note
    for e in eig.bottom:  # each holds the true i-th smallest, 0, within tol·max|λ|
        assert e.converged and e.value == e.error_bound <= 1e-6
    assert len(eig.bottom) == 3 or f"only {len(eig.bottom)} listed" in note
    B = DenseOperator((Q * (lam + 0.01)) @ Q.T, psd=True)  # its bottom clear of 0
    solved = extreme_eigenpairs(B, 3, 3, tol=1e-6)
    assert psd_bottom(B, solved, 1e-6, recount) == (solved, None)  # the Ritz pairs as they are
