"""The library face, as a notebook uses it: `import landscape as ls` on the user's own model,
DataLoader and nn loss. Eigenvalues against dense float64 Hessians computed here with plain
autograd and the nn loss itself (no code of the package), reports against the command line's
--json, the model left exactly as it was, and the bad inputs."""

from __future__ import annotations

import copy
import inspect
import json

import pytest
import torch
from cli import run
from torch import nn
from torch.func import functional_call
from torch.utils.data import DataLoader, TensorDataset

import landscape as ls


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))


class BNNet(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv2d(1, 2, 3)
        self.bn = nn.BatchNorm2d(2)
        self.head = nn.Linear(2 * 4 * 4, 3)

    def forward(self, x):
        return self.head(torch.tanh(self.bn(self.conv(x))).flatten(1))


def classification(n: int, shape: tuple, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *shape, generator=g), torch.randint(0, 3, (n,), generator=g)


def dense_truth(model: nn.Module, x, y, loss_fn) -> torch.Tensor:
    """The eigenvalues of the Hessian of loss_fn(model(x), y) in float64, eval mode, over the
    parameters that require grad: plain autograd on a copy, nothing of the package."""
    twin = copy.deepcopy(model).double().eval()
    names = [n for n, p in twin.named_parameters() if p.requires_grad]
    flat = torch.cat([p.detach().reshape(-1) for n, p in twin.named_parameters() if n in names])
    shapes = [p.shape for n, p in twin.named_parameters() if n in names]

    def loss(theta):
        parts, i = {}, 0
        for name, shape in zip(names, shapes, strict=True):
            parts[name] = theta[i : i + shape.numel()].view(shape)
            i += shape.numel()
        return loss_fn(functional_call(twin, parts, (x.double(),)), y)

    return torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss, flat))


def snapshot(model: nn.Module) -> dict:
    """Everything of a model the library promises to leave alone."""
    return {
        "state": {k: v.clone() for k, v in model.state_dict(keep_vars=False).items()},
        "dtypes": {k: (v.dtype, v.device) for k, v in model.state_dict().items()},
        "requires_grad": {n: p.requires_grad for n, p in model.named_parameters()},
        "grads": {
            n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()
        },
        "grad_ids": {n: id(p.grad) for n, p in model.named_parameters()},
        "param_ids": {n: id(p) for n, p in model.named_parameters()},
        "training": {n: m.training for n, m in model.named_modules()},
        "hooks": {
            n: [list(h.items()) for h in (m._forward_hooks, m._forward_pre_hooks)]
            for n, m in model.named_modules()
        },
    }


def assert_unchanged(model: nn.Module, before: dict) -> None:
    after = snapshot(model)
    assert after["state"].keys() == before["state"].keys()
    for k, v in before["state"].items():  # parameters and buffers bit for bit
        assert torch.equal(after["state"][k], v) and after["state"][k].dtype == v.dtype, k
    for key in ("dtypes", "requires_grad", "grad_ids", "param_ids", "training", "hooks"):
        assert after[key] == before[key], key
    for n, g in before["grads"].items():
        assert (after["grads"][n] is None) == (g is None), n
        assert g is None or torch.equal(after["grads"][n], g), n


def within_bounds(pairs, truth: torch.Tensor, scale: float) -> None:
    assert pairs and all(e.converged for e in pairs)
    for e, t in zip(pairs, truth.tolist(), strict=True):
        assert abs(e.value - t) <= e.error_bound + 1e-9 * scale, (e, t)


def test_notebook_flow_on_an_mlp_with_a_dataloader_and_an_nn_loss():
    model = mlp()
    x, y = classification(96, (6,))
    loader = DataLoader(TensorDataset(x, y), batch_size=32)  # read per pass, in order
    rep = ls.spectrum(model, loader, nn.CrossEntropyLoss(), k=5, k_bottom=5, dtype=torch.float64)
    truth = dense_truth(model, x, y, nn.CrossEntropyLoss())
    scale = float(truth.abs().max())
    within_bounds(rep.top, truth.flip(0)[:5], scale)
    within_bounds(rep.bottom, truth[:5], scale)
    assert rep.num_params == truth.numel() == 83 and rep.top[0].error_bound < 1e-8 * scale
    doc = rep.to_dict()
    assert doc["command"] == "spectrum" and doc["top"][0]["value"] == rep.top[0].value
    json.dumps(doc, allow_nan=False)


def test_a_batchnorm_model_in_train_mode_with_hooks_grads_and_frozen_params_is_left_alone():
    model = BNNet().train()
    x, y = classification(40, (1, 6, 6), seed=2)
    model(x).sum().backward()  # existing gradients, and running statistics moved once
    model.conv.bias.requires_grad_(False)
    model.conv.bias.grad = None  # a frozen parameter with no gradient stays so
    calls = []
    model.bn.register_forward_hook(lambda *_: calls.append(1))
    before = snapshot(model)
    loss = nn.CrossEntropyLoss()
    first = ls.spectrum(model, TensorDataset(x, y), loss, k=3, k_bottom=3)
    assert_unchanged(model, before)
    second = ls.spectrum(model, TensorDataset(x, y), loss, k=3, k_bottom=3)
    assert_unchanged(model, before)
    # the same θ both times (the frozen bias stays out of it), the analysis in eval mode
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert first.num_params == second.num_params == trainable == 123 - 2
    assert [e.value for e in first.top] == [e.value for e in second.top]
    truth = dense_truth(model, x, y, loss)  # eval mode: the running statistics
    scale = float(truth.abs().max())
    within_bounds(first.top, truth.flip(0)[:3], scale)
    within_bounds(first.bottom, truth[:3], scale)
    assert model.training and model.bn.training and calls  # the hook still runs for the copy


def test_building_blocks_compose():
    model = mlp()
    x, y = classification(64, (6,), seed=3)
    problem = ls.make_problem(model, (x, y), "cross-entropy")
    H, G = ls.hessian(problem), ls.ggn(problem)
    dense = {name: op.dense() for name, op in (("H", H), ("G", G))}
    T = ls.extreme_eigenpairs(H - G, k=2, k_bottom=2)
    truth = torch.linalg.eigvalsh(dense["H"] - dense["G"])
    scale = float(truth.abs().max())
    within_bounds(T.top, truth.flip(0)[:2], scale)
    within_bounds(T.bottom, truth[:2], scale)
    trace = ls.hutchpp_trace(G, trace_samples=problem.num_params)  # p products: exact
    assert trace.value == pytest.approx(float(dense["G"].trace()), rel=1e-10)
    sum_op = H + G
    v = torch.randn(problem.num_params, dtype=torch.float64)
    assert torch.allclose(sum_op.matvec(v), (dense["H"] + dense["G"]) @ v, atol=1e-10)
    density = ls.spectral_density(G, density_starts=2, density_steps=10)
    assert density.lambda_max == pytest.approx(float(torch.linalg.eigvalsh(dense["G"])[-1]))
    # a problem stands in for model, data and loss
    assert ls.spectrum(problem, k=1, k_bottom=0).top[0].value == pytest.approx(
        float(torch.linalg.eigvalsh(dense["H"])[-1]), rel=1e-8
    )


def test_an_unconverged_solve_raises_not_converged_with_the_partial_report():
    model = mlp()
    data = classification(64, (6,), seed=4)
    with pytest.raises(ls.NotConverged) as caught:
        ls.spectrum(model, data, solver=ls.SolverSettings(max_products=12), k=5)
    partial = caught.value.report
    assert isinstance(caught.value, ls.NumericalError) and "max_products" in str(caught.value)
    assert partial.top and not all(e.converged for e in partial.top + partial.bottom)
    flagged = ls.spectrum(model, data, max_products=12, k=5, allow_unconverged=True)
    assert [e.value for e in flagged.top] == [e.value for e in partial.top]


def sample():
    from sample_models import SAMPLE_CHECKPOINT, SAMPLE_DATA
    from sample_models.mlp import build

    checkpoint = torch.load(SAMPLE_CHECKPOINT, weights_only=False)
    model = build(**checkpoint["factory_kwargs"])
    model.load_state_dict(checkpoint["state_dict"])
    data = torch.load(SAMPLE_DATA)
    return model, (data["x"], data["y"])


ROUTE = ("mode", "points_per_pass", "reductions", "note")  # the surface's: vmap or loop


def machine_free(doc):
    """A report without what depends on the machine: timings, the free memory and the route
    the surface's points took (vmap or the loop, whichever was faster at that moment)."""
    if isinstance(doc, dict):
        route = ROUTE if "points_per_pass" in doc else ()
        return {
            k: machine_free(v) for k, v in doc.items() if k not in ("seconds", "budget", *route)
        }
    if isinstance(doc, list):
        return [machine_free(v) for v in doc]
    return doc


@pytest.mark.parametrize(
    ("command", "args", "keywords"),
    [
        ("spectrum", ["--k", "3"], {"k": 3}),
        ("surface", ["--grid", "5", "--dims", "1"], {"grid": 5, "dims": 1}),
    ],
)
def test_to_dict_is_the_json_the_command_line_prints(command, args, keywords, capsys, monkeypatch):
    model, data = sample()
    call = getattr(ls, command)
    doc = call(model, data, nn.CrossEntropyLoss(), device="cpu", **keywords).to_dict()
    out = run([command, "--json", "--device", "cpu", *args], capsys, monkeypatch)
    assert out.code == 0, out.err
    assert machine_free(doc) == machine_free(json.loads(out.out))


def test_every_keyword_default_is_the_command_lines():
    from landscape.api.defaults import COMMANDS, DTYPE_TOL, LOSS
    from landscape.cli.options import defaults

    assert DTYPE_TOL["float64"] == 1e-6 and LOSS == defaults("spectrum")["loss"]
    for command, table in COMMANDS.items():
        if command == "problem":
            continue
        cli = defaults(command)
        sig = inspect.signature(getattr(ls, command)).parameters
        for name, value in table.items():
            assert name in cli, (command, name)  # no keyword the command line lacks
            assert sig[name].default == value
            assert value == cli[name], (command, name, value, cli[name])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"loss": nn.SmoothL1Loss()}, "loss"),
        ({"loss": nn.CrossEntropyLoss(reduction="none")}, "reduction"),
        ({"loss": nn.CrossEntropyLoss(reduction="sum")}, "reduction"),
        ({"loss": nn.CrossEntropyLoss(label_smoothing=0.1)}, "label_smoothing"),
        ({"data": DataLoader(list(range(8)), batch_size=4)}, "data"),
        ({"params": "^nothing"}, "params"),
        ({"k": 0, "k_bottom": -1}, "k_bottom"),
        ({"kk": 3}, "kk"),
    ],
)
def test_bad_input_is_one_input_error_naming_the_field_with_the_model_untouched(change, field):
    model = mlp().train()
    x, y = classification(16, (6,))
    model(x).sum().backward()
    before = snapshot(model)
    given = {"data": (x, y), "loss": nn.CrossEntropyLoss(), **change}
    with pytest.raises(ls.InputError) as caught:
        ls.spectrum(model, given.pop("data"), given.pop("loss"), **given)
    message = str(caught.value)
    assert field in message and "--" not in message, message
    assert caught.value.fix
    assert_unchanged(model, before)


def test_a_model_with_no_parameter_requiring_grad_is_refused():
    model = mlp().requires_grad_(False)
    before = snapshot(model)
    with pytest.raises(ls.InputError, match="requires_grad"):
        ls.spectrum(model, classification(8, (6,)), k=1)
    assert_unchanged(model, before)
    report = ls.params(model, params=r"^0\.")  # a regex still names frozen parameters
    assert report.selected_params == 6 * 8 + 8


def test_import_landscape_loads_no_numerical_library_until_a_name_is_used():
    import subprocess
    import sys

    code = (
        "import sys, landscape; dir(landscape); "
        "print(sorted(m for m in ('torch', 'numpy', 'scipy', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert set(ls.__all__) <= set(dir(ls)) and callable(ls.spectrum)


def test_the_readme_python_example_runs(capsys):
    """The docs' whole example (docs/examples/library.py) runs, and the README's five lines
    run on its model and loader."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    example = root / "docs" / "examples" / "library.py"
    namespace: dict = {}
    exec(compile(example.read_text(), str(example), "exec"), namespace)
    out = capsys.readouterr().out
    assert "certified: True" in out and "tr G" in out
    section = (root / "README.md").read_text().split("## From Python")[1]
    code = section.split("```python\n")[1].split("```")[0]
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["rep"].top[0].converged and namespace["doc"]["top"]
    assert namespace["gap"].to_dict()


def test_every_call_runs_and_leaves_the_model_alone():
    model, other = mlp().train(), BNNet()
    data = classification(32, (6,), seed=5)
    before = snapshot(model)
    runs = {
        "ggn_gap": ls.ggn_gap(model, data, probes=3, mc_samples=(1, 2)),
        "taylor_check": ls.taylor_check(model, data, direction="gradient,random"),
        "sharpness": ls.sharpness(model, data, lr=0.1, avg_samples=4, ascent_steps=2),
        "surface": ls.surface(model, data, grid=3),
        "interpolate": ls.interpolate(model, data, model_b=mlp(), steps=3),
        "params": ls.params(model),
    }
    assert_unchanged(model, before)
    for command, report in runs.items():
        assert report.to_dict()["command"] == command.replace("_", "-") or command == "params"
        json.dumps(report.to_dict(), allow_nan=False)
    assert runs["taylor_check"].verdict == "passed"
    with pytest.raises(ls.InputError, match="model_b"):
        ls.interpolate(model, data)
    with pytest.raises(ls.InputError, match="checkpoints do not match"):
        ls.interpolate(model, data, model_b=other)


def test_the_progress_hook_hears_each_part_and_counts_the_products_spent():
    """`progress=` is a function returning a context manager per part of the work; the
    spectrum's solve offers `count`, the operator's products so far, which must end at the
    products the report says the solver and the trace spent (no product uncounted)."""
    from contextlib import contextmanager

    heard = []

    @contextmanager
    def hook(description, total=None, *, count=None, bound=False, unit="products"):
        ticks = []
        yield lambda done, stage=None: ticks.append((done, stage))
        heard.append((description, total, bound, unit, count() if count else None, ticks))

    x, y = classification(64, (6,))
    rep = ls.spectrum(mlp(), (x, y), "cross-entropy", k=2, k_bottom=1, trace=True,
                      trace_samples=12, progress=hook, device="cpu")  # fmt: skip
    assert [h[0] for h in heard] == ["building products", "hessian spectrum"]
    _, total, bound, unit, counted, _ = heard[1]
    assert bound and unit == "products"
    assert counted == rep.solver.products + rep.trace.products <= total
    heard.clear()
    ls.surface(mlp(), (x, y), grid=3, progress=hook, device="cpu")
    (description, total, _, unit, _, ticks), = heard  # fmt: skip
    assert (description, total, unit) == ("surface", 9, "points") and ticks[-1][0] == 9
