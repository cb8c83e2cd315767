"""On a GPU: the same numbers as on the CPU, every large tensor on the device, attention with a
second derivative, the Krylov basis on the host. Skipped where CUDA is not available (CI)."""

import json

import pytest
import torch
from cli import run
from torch import nn
from torch.nn import functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from landscape.curvature import make_operator
from landscape.estimators.basis import BasisBudget
from landscape.estimators.lanczos import extreme_eigenpairs
from landscape.estimators.trace import hutchpp_trace
from landscape.losses import get_loss
from landscape.problem import build_problem

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    return lambda *args: run(list(args), capsys, monkeypatch)


def mlp_problem(device, dtype=torch.float64):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 24), nn.Tanh(), nn.Linear(24, 16), nn.Tanh())
    model.append(nn.Linear(16, 4))
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(128, 12, generator=g), torch.randint(0, 4, (128,), generator=g)
    loss = get_loss("cross-entropy")
    return build_problem(model, x, y, loss, batch_size=50, dtype=dtype, device=device)


def test_spectrum_on_cuda_equals_cpu(cli):
    """Every figure of `landscape spectrum` on the sample, float64: CUDA = CPU to 1e-10."""
    args = ("spectrum", "--json", "--density", "--samples", "256")
    cpu, gpu = (json.loads(cli(*args, "--device", d).out) for d in ("cpu", "cuda"))
    assert gpu["device"].startswith("cuda") and cpu["device"] == "cpu"
    scale = max(abs(e["value"]) for e in cpu["top"] + cpu["bottom"])
    for end in ("top", "bottom"):
        for a, b in zip(cpu[end], gpu[end], strict=True):
            assert abs(a["value"] - b["value"]) <= 1e-10 * scale
    assert abs(cpu["trace"]["value"] - gpu["trace"]["value"]) <= 1e-10 * abs(cpu["trace"]["value"])
    for key in ("lambda_max", "lambda_min"):
        assert abs(cpu["condition"][key] - gpu["condition"][key]) <= 1e-10 * scale
    for a, b in zip(*(r["condition"]["negative_fraction_interval"] for r in (cpu, gpu))):
        assert abs(a - b) <= 1e-10
    assert gpu["solver"]["basis"]["device"].startswith("cuda")


RANDOM_DRAWS = {"aten.randn.generator", "aten.randint.low_generator"}


class Devices(TorchDispatchMode):
    """Every aten op's output: (op name, device, shape)."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, tuple | list) else (out,):
            if isinstance(t, torch.Tensor):
                self.seen.append((str(func), t.device.type, tuple(t.shape)))
        return out


def test_every_large_tensor_is_on_the_device():
    """The solver and the trace on CUDA: no tensor of parameter length on the CPU but the
    seeded random draws (made on the CPU so a GPU run draws the same, then moved)."""
    problem = mlp_problem("cuda")
    op = make_operator("hessian", problem)
    p = problem.num_params
    with Devices() as mode:
        eig = extreme_eigenpairs(op, 3, 3, tol=1e-8)
        hutchpp_trace(op, 30)
    on_cpu = {name for name, device, shape in mode.seen if device == "cpu" and p in shape}
    assert on_cpu <= RANDOM_DRAWS, on_cpu
    assert eig.top_vectors.is_cuda and eig.basis.device.startswith("cuda")
    assert all(t.is_cuda for t in problem.params)


def test_host_basis_for_a_cuda_operator_gives_the_same_values():
    problem = mlp_problem("cuda")
    device = extreme_eigenpairs(make_operator("hessian", problem), 5, 5, tol=1e-8)
    host = extreme_eigenpairs(
        make_operator("hessian", problem), 5, 5, tol=1e-8, basis_budget=BasisBudget(host=True)
    )
    assert (host.basis.device, host.basis.pinned) == ("cpu", True)
    assert host.top_vectors.is_cuda and host.bottom_vectors.is_cuda
    scale = device.scale
    for a, b in zip(device.top + device.bottom, host.top + host.bottom, strict=True):
        assert abs(a.value - b.value) <= 1e-10 * scale


class Attention(nn.Module):
    def __init__(self, d=16, classes=3):
        super().__init__()
        self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, classes)

    def forward(self, x):
        q, k, v = self.qkv(x).unflatten(-1, (3, 2, -1)).permute(2, 0, 3, 1, 4)
        z = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).flatten(2)
        return self.out(z.mean(1))


def test_attention_has_a_second_derivative_on_cuda():
    """float32 attention on CUDA would take a fused kernel (no double backward): the products
    run it on the math kernel, and the top eigenvalue matches the CPU's."""
    values = {}
    for device in ("cpu", "cuda"):
        torch.manual_seed(0)
        g = torch.Generator().manual_seed(1)
        x, y = torch.randn(32, 8, 16, generator=g), torch.randint(0, 3, (32,), generator=g)
        problem = build_problem(
            Attention(), x, y, get_loss("cross-entropy"), dtype=torch.float32, device=device
        )
        eig = extreme_eigenpairs(make_operator("hessian", problem), 1, 0, tol=1e-4)
        values[device] = eig.top[0].value
    assert abs(values["cuda"] - values["cpu"]) <= 1e-4 * abs(values["cpu"])


def test_bfloat16_on_cuda(cli):
    args = ("spectrum", "--json", "--k", "1", "--k-bottom", "0", "--trace-samples", "3")
    exact = json.loads(cli(*args, "--device", "cpu").out)["top"][0]["value"]
    r = cli(*args, "--device", "cuda", "--dtype", "bfloat16")
    assert r.code == 0, r.err
    assert abs(json.loads(r.out)["top"][0]["value"] - exact) <= 1e-2 * abs(exact)
