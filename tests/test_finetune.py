"""A fine-tuning checkpoint as it is: a frozen backbone from the factory, a state dict holding
only the fine-tuned head (`--partial`), and the optimizer state over the trainable subset,
against dense truths of the fine-tuned model."""

from __future__ import annotations

import json

import pytest
import torch
from cli import run
from dense import dense_hessian
from torch import nn

from landscape.losses import get_loss
from landscape.problem import build_problem

FACTORY = '''
import torch
from torch import nn


def build():
    """A "pretrained" backbone (seeded, frozen) and a fresh head."""
    torch.manual_seed(7)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    model[0].requires_grad_(False)
    return model.double()
'''


@pytest.fixture
def finetuned(tmp_path, monkeypatch):
    (tmp_path / "backbone.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    from backbone import build

    model = build()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(48, 4, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (48,), generator=gen)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.01)
    for _ in range(25):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    head = {k: v for k, v in model.state_dict().items() if k.startswith("2.")}
    torch.save({"state_dict": head, "optimizer": opt.state_dict(), "lr": 0.01}, tmp_path / "ft.pt")
    torch.save({"x": x, "y": y}, tmp_path / "data.pt")
    monkeypatch.chdir(tmp_path)
    return model, opt, x, y


ARGS = ["ft.pt", "--model-factory", "backbone.py:build", "--data", "data.pt"]


def test_a_head_only_checkpoint_needs_partial(finetuned, capsys, monkeypatch):
    r = run(["spectrum", *ARGS], capsys, monkeypatch)
    assert r.code == 2 and "missing keys: 0.weight, 0.bias" in r.err and "--partial" in r.err


def test_partial_loads_the_head_over_the_factory_and_maps_the_optimizer(
    finetuned, capsys, monkeypatch
):
    model, opt, x, y = finetuned
    r = run(["sharpness", *ARGS, "--partial", "--json"], capsys, monkeypatch)
    assert r.code == 0, r.err
    assert "--partial: 2 tensors from ft.pt, 2 from the factory (0.weight, 0.bias)" in r.err
    report = json.loads(r.out)
    problem = build_problem(model, x, y, get_loss("cross-entropy"))  # θ: the trainable head
    assert problem.names == ["2.weight", "2.bias"] and report["num_params"] == 27
    H = dense_hessian(problem)
    assert report["top"][0]["value"] == pytest.approx(float(torch.linalg.eigvalsh(H)[-1]), rel=1e-8)
    # Adam's preconditioned sharpness from the optimizer's own second moments
    state = opt.state_dict()["state"]
    beta2, eps = 0.999, 1e-8
    v = torch.cat([state[i]["exp_avg_sq"].reshape(-1) for i in (0, 1)])
    step = float(state[0]["step"])
    d = (v / (1 - beta2**step)).sqrt() + eps
    M = H / torch.sqrt(d[:, None] * d[None, :])
    truth = float(torch.linalg.eigvalsh(M)[-1])
    assert report["adam"]["preconditioned"]["value"] == pytest.approx(truth, rel=1e-6)
