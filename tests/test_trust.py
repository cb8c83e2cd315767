"""What trust allows, and what the failures keep: the positive side of the bad-input corpus."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from cli import run
from torch import nn

from landscape.errors import InputError
from landscape.render.files import write_files

NET = """
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)

    def forward(self, x):
        return self.lin(x)
"""


def dense_lambda_max(weight: torch.Tensor, bias: torch.Tensor, x, y) -> float:
    """λ_max of the mean cross-entropy's Hessian in (weight, bias), by a dense float64 matrix."""

    def loss(flat):
        w, b = flat[:12].reshape(3, 4), flat[12:]
        return nn.functional.cross_entropy(x @ w.T + b, y)

    theta = torch.cat([weight.reshape(-1), bias]).double()
    return float(torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss, theta))[-1])


@pytest.fixture
def problem(tmp_path):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(40, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (40,), generator=g)
    torch.save({"x": x, "y": y}, tmp_path / "data.pt")
    torch.manual_seed(4)
    lin = nn.Linear(4, 3).double()
    return tmp_path, lin, x, y


def console(args, cwd) -> subprocess.CompletedProcess:
    script = Path(sys.executable).parent / "landscape"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [str(script), *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_tutorial_checkpoint_loads_with_a_factory_and_kwargs(problem, capsys, monkeypatch):
    folder, lin, x, y = problem
    sd = lin.state_dict()
    optimizer = torch.optim.SGD(lin.parameters(), lr=0.1).state_dict()
    checkpoint = {"model_state_dict": sd, "optimizer_state_dict": optimizer, "epoch": 3}
    torch.save({**checkpoint, "loss": 0.0760}, folder / "tutorial.pt")
    monkeypatch.chdir(folder)
    kwargs = json.dumps({"in_features": 4, "out_features": 3})
    args = ["spectrum", "tutorial.pt", "--model-factory", "torch.nn:Linear"]
    r = run([*args, "--factory-kwargs", kwargs, "--data", "data.pt", "--json"], capsys, monkeypatch)
    assert r.code == 0, r.err
    top = json.loads(r.out)["top"][0]["value"]
    assert top == pytest.approx(dense_lambda_max(sd["weight"], sd["bias"], x, y), rel=1e-9)


def test_trusted_pickled_module_resolves_classes_from_the_users_folders(problem, tmp_path):
    folder, lin, x, y = problem
    (folder / "models").mkdir()
    (folder / "models" / "__init__.py").write_text(NET)
    save = "import torch, models; n = models.Net().double(); torch.manual_seed(5); "
    save += "torch.save(n, 'net.pt'); torch.save(n.state_dict(), 'net_sd.pt')"
    subprocess.run([sys.executable, "-c", save], cwd=folder, check=True)
    sd = torch.load(folder / "net_sd.pt", weights_only=True)
    truth = dense_lambda_max(sd["lin.weight"], sd["lin.bias"], x, y)
    refused = console(["spectrum", "net.pt", "--data", "data.pt"], folder)
    assert refused.returncode == 2 and "models.Net" in refused.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for cwd, ckpt in ((folder, "net.pt"), (elsewhere, folder / "net.pt")):  # cwd, then its folder
        done = console(
            [
                "spectrum",
                ckpt,
                "--trust-checkpoint",
                "--data",
                folder / "data.pt",
                "--k",
                "1",
                "--json",
            ],
            cwd,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["top"][0]["value"] == pytest.approx(truth, rel=1e-9)


def test_outputs_are_written_all_or_none(tmp_path):
    good = tmp_path / "a" / "report.json"
    with pytest.raises(InputError, match="no file was written"):
        write_files({good: b"{}", Path("/proc/landscape-test/x.png"): b"png"})
    assert not good.exists() and not (tmp_path / "a").exists()
    write_files({good: b"{}", tmp_path / "b.png": b"png"})
    assert good.read_bytes() == b"{}" and (tmp_path / "b.png").read_bytes() == b"png"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b.png", "report.json"]


def test_a_failing_figure_never_costs_the_report(tmp_path, capsys, monkeypatch):
    from landscape.render.figures import spectrum

    def broken(report, target):
        raise ValueError("no axes")

    monkeypatch.setattr(spectrum, "draw_spectrum", broken)  # the figure the sink loads lazily
    monkeypatch.chdir(tmp_path)
    r = run(["spectrum", "--k", "1", "--k-bottom", "0", "--out", "out"], capsys, monkeypatch)
    assert r.code == 70
    lines = [line for line in r.err.splitlines() if "wrote" not in line and "bundled" not in line]
    assert len(lines) == 1 and "spectrum figure could not be drawn" in lines[0], r.err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["top"][0]["value"] == pytest.approx(43.13266091918, rel=1e-9)
    assert not (tmp_path / "out" / "spectrum.png").exists()


def test_trusted_pt2_loads_and_untrusted_is_refused(tmp_path, capsys, monkeypatch):
    torch.manual_seed(6)
    lin = nn.Linear(4, 3).double().eval()
    x = torch.randn(40, 4, dtype=torch.float64)
    y = torch.randint(0, 3, (40,))
    torch.save({"x": x, "y": y}, tmp_path / "data.pt")
    dim = torch.export.Dim("batch")
    program = torch.export.export(lin, (x[:2],), dynamic_shapes=({0: dim},))
    torch.export.save(program, tmp_path / "m.pt2")
    monkeypatch.chdir(tmp_path)
    args = ["spectrum", "m.pt2", "--data", "data.pt", "--k", "1", "--json"]
    refused = run(args, capsys, monkeypatch)
    assert refused.code == 2 and "--trust-checkpoint" in refused.err and refused.out == ""
    r = run([*args, "--trust-checkpoint"], capsys, monkeypatch)
    assert r.code == 0, r.err
    truth = dense_lambda_max(lin.weight.detach(), lin.bias.detach(), x, y)
    assert json.loads(r.out)["top"][0]["value"] == pytest.approx(truth, rel=1e-9)
