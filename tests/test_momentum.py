"""SGD with momentum: the stability limit on η·λ_max against PyTorch's own optimizer run on a
quadratic, and the limit taken from the checkpoint's SGD state or --momentum."""

from __future__ import annotations

import json

import pytest
import torch
from cli import run

from landscape.analyses.sharpness.curvature import stability_of
from landscape.analyses.sharpness.momentum import Momentum, momentum_of
from landscape.estimators.results import Eigenpair


def sgd_grows(lam: float, lr: float, steps: int = 3000, **sgd) -> bool:
    """torch.optim.SGD on L = λx²/2 from x = 1: True when |x| ends above its start."""
    x = torch.ones(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([x], lr=lr, **sgd)
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * lam * x**2).sum().backward()
        opt.step()
    return bool(x.detach().abs() > 1)


@pytest.mark.parametrize(
    "sgd",
    [
        {},
        {"momentum": 0.5},
        {"momentum": 0.9},
        {"momentum": 0.9, "dampening": 0.3},
        {"momentum": 0.5, "nesterov": True},
        {"momentum": 0.9, "nesterov": True},
    ],
)
def test_the_limit_is_where_pytorchs_sgd_turns_unstable(sgd):
    m = Momentum(sgd.get("momentum", 0.0), sgd.get("nesterov", False), sgd.get("dampening", 0.0))
    lam = 7.0
    edge = m.limit / lam
    assert not sgd_grows(lam, 0.98 * edge, **sgd)
    assert sgd_grows(lam, 1.02 * edge, **sgd)


def test_the_limits_closed_forms():
    assert Momentum().limit == 2.0 and Momentum(0.9).limit == pytest.approx(3.8)
    assert Momentum(0.9, dampening=0.3).limit == pytest.approx(3.8 / 0.7)
    assert Momentum(0.9, nesterov=True).limit == pytest.approx(3.8 / 2.8)


def test_the_verdict_uses_the_momentum_limit():
    """β = 0.9 allows η·λ_max up to 3.8: with GD's 2 the headroom would be overstated 1.9×
    the other way round (η·λ_max = 1 is 'could grow 2×' for GD, 3.8× with momentum)."""
    pair = Eigenpair(10.0, 1e-9, True)
    gd, hb = stability_of(pair, 0.1, "--lr"), stability_of(pair, 0.1, "--lr", Momentum(0.9))
    assert gd.margin == pytest.approx(0.5) and hb.margin == pytest.approx(1 / 3.8)
    assert hb.edge == pytest.approx(0.38) and "3.8" in hb.verdict
    assert stability_of(pair, 0.3, "--lr", Momentum(0.9)).verdict.startswith("stable")
    assert stability_of(pair, 0.4, "--lr", Momentum(0.9)).verdict.startswith("beyond")


def test_momentum_comes_from_the_option_then_an_sgd_state():
    sgd = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=0.1, momentum=0.8)
    adam = torch.optim.Adam([torch.zeros(2, requires_grad=True)], lr=0.1)
    assert momentum_of(None, False, sgd.state_dict()) == Momentum(
        0.8, False, 0.0, "optimizer state"
    )
    assert momentum_of(0.5, True, sgd.state_dict()) == Momentum(0.5, True, 0.0, "option")
    assert momentum_of(None, False, adam.state_dict()).beta == 0.0  # Adam's betas are not SGD's
    assert momentum_of(None, False, None) == Momentum()


def test_cli_reads_sgd_momentum_from_the_checkpoint(tmp_path, capsys, monkeypatch):
    from sample_models import SAMPLE_CHECKPOINT

    ckpt = torch.load(SAMPLE_CHECKPOINT, weights_only=True)
    model = torch.nn.Linear(1, 1)
    state = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9).state_dict()
    ckpt.update(lr=0.05, optimizer=state)
    ckpt["data"] = str(SAMPLE_CHECKPOINT.parent / ckpt.get("data", ""))  # beside the sample
    path = tmp_path / "sgd.pt"
    torch.save(ckpt, path)
    monkeypatch.chdir(SAMPLE_CHECKPOINT.parent)
    args = ["sharpness", path, "--trust-checkpoint", "--json", "--k", "1"]
    report = json.loads(run(args, capsys, monkeypatch).out)
    s = report["stability"]
    assert (s["limit"], s["momentum_source"]) == (pytest.approx(3.8), "optimizer state")
    lam = report["top"][0]["value"]
    assert s["margin"] == pytest.approx(0.05 * lam / 3.8, rel=1e-12)
    bad = run(["sharpness", "--lr", "0.1", "--momentum", "1.5"], capsys, monkeypatch)
    assert bad.code == 2 and bad.err.count("\n") == 1 and "--momentum" in bad.err
