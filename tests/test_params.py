"""θ as the user sees it: `landscape params`, the default selection (parameters that require
grad), and a regex that selects nothing."""

from __future__ import annotations

import json

import pytest
import torch
from cli import run
from torch import nn

from landscape.errors import InputError
from landscape.losses import get_loss
from landscape.problem import build_problem


def test_params_lists_theta_and_the_blocks_per_layer_uses(capsys, monkeypatch):
    r = run(["params", "--json"], capsys, monkeypatch)
    assert r.code == 0, r.err
    report = json.loads(r.out)
    sizes = {e["name"]: e["numel"] for e in report["parameters"]}
    assert sizes == {
        "hidden.0.weight": 64 * 16,
        "hidden.0.bias": 64,
        "hidden.1.weight": 32 * 64,
        "hidden.1.bias": 32,
        "out.weight": 4 * 32,
        "out.bias": 4,
    }
    assert report["num_params"] == report["selected_params"] == 3300
    assert [(b["name"], b["num_params"]) for b in report["blocks"]] == [
        ("hidden.0", 1088),
        ("hidden.1", 2080),
        ("out", 132),
    ]
    r = run(["params", "--params", "^out", "--json"], capsys, monkeypatch)
    report = json.loads(r.out)
    assert (report["selected_tensors"], report["selected_params"]) == (2, 132)
    assert [e["name"] for e in report["parameters"] if e["selected"]] == ["out.weight", "out.bias"]


def test_a_regex_that_selects_nothing_names_the_nearest(capsys, monkeypatch):
    r = run(["params", "--params", "hiden.1"], capsys, monkeypatch)
    assert r.code == 2 and r.err.count("\n") <= 2
    assert "no parameters selected" in r.err and "hidden.1.weight" in r.err


def test_theta_defaults_to_the_parameters_that_require_grad():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    model[0].requires_grad_(False)  # a frozen backbone, a trainable head
    x, y = torch.randn(10, 3, dtype=torch.float64), torch.randint(0, 2, (10,))
    problem = build_problem(model, x, y, get_loss("cross-entropy"))
    assert problem.names == ["2.weight", "2.bias"] and problem.num_params == 10
    everything = build_problem(model, x, y, get_loss("cross-entropy"), params=".")
    assert everything.num_params == 26
    with pytest.raises(InputError, match="nearest names: 2.weight"):
        build_problem(model, x, y, get_loss("cross-entropy"), params="2.wieght$")
