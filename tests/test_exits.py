"""Exit 0 only for a meaningful answer, and an input problem never an internal error (issue 20,
items 10 and 11): the checks against ground truth, and the cases the corpus cannot express
(the environment, a full disk on stdout, Ctrl-C). The corpus cases are in corpus_exits.py."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from dense import classification_problem, dense_hessian
from torch import nn

from landscape import checks
from landscape.analyses.gate import Relative
from landscape.analyses.sharpness import Metric
from landscape.analyses.sharpness.optimizer_state import check_optimizer_state
from landscape.analyses.surface.checks import check_range, check_values
from landscape.cli.thresholds import resolve_relative
from landscape.errors import InputError, NumericalError

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}"}


# ------------------------------------------------------------------ the checks, against truth
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_the_symmetry_check_passes_a_true_hessian(dtype):
    """A true Hessian (the dense one is symmetric to round-off) passes in either dtype: the
    tolerance is of round-off, and the two products it compares agree with the dense ones."""
    problem = classification_problem(n=40, sizes=(4, 6, 3), batch_size=40)
    H = dense_hessian(problem)
    assert torch.allclose(H, H.T, atol=1e-12)
    if dtype != torch.float64:
        problem = problem.with_params(problem.flat_params().to(dtype))
        problem.batches = [(x.to(dtype), y) for x, y in problem.batches]
        problem.model.to(dtype)
    batch = problem.probe_batch()
    checks.check_symmetric(lambda ps: problem.batch_loss(ps, batch), problem.leaves(), batch.x)


def test_the_symmetry_check_refuses_a_backward_that_is_not_the_derivative():
    class Skewed(torch.autograd.Function):  # the identity; its "derivative" g·roll(x)
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.clone()

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x.roll(1, dims=-1)

    torch.manual_seed(0)
    lin = nn.Linear(4, 3).double()
    x, y = torch.randn(16, 4, dtype=torch.float64), torch.randint(0, 3, (16,))
    leaves = [p.detach().requires_grad_() for p in lin.parameters()]

    def loss(ps):
        z = Skewed.apply(torch.nn.functional.linear(x, *ps))
        return torch.nn.functional.cross_entropy(z, y)

    with pytest.raises(InputError, match="not symmetric"):
        checks.check_symmetric(loss, leaves, x)


def test_the_determinism_check_tells_noise_from_the_same_outputs():
    z = torch.randn(8, 3, dtype=torch.float64)
    checks.check_deterministic(z, lambda: z.clone())
    with pytest.raises(InputError, match="random in eval mode"):
        checks.check_deterministic(z, lambda: z + 1e-6 * torch.randn_like(z))


@pytest.mark.parametrize("error", [KeyError("row 11"), ValueError("bad value")])
def test_a_worker_error_gives_the_original_type_and_message(error):
    """As a DataLoader re-raises a worker's error: the worker's traceback as the message."""
    from torch._utils import ExceptionWrapper

    try:
        raise error
    except Exception:
        wrapped = ExceptionWrapper(sys.exc_info(), where="in DataLoader worker process 0")
    with pytest.raises(type(error)) as caught:
        wrapped.reraise()
    assert "Traceback" in str(caught.value)
    assert checks.error_text(caught.value) == f"{type(error).__name__}: {error}"
    assert checks.error_text(ValueError("bad\nsecond line")) == "ValueError: bad"


# ------------------------------------------------------------------ values out of range
def _adam(**group) -> dict:
    state = {0: {"step": torch.tensor(3.0), "exp_avg_sq": torch.full((2,), 1e-4)}}
    base = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}
    return {"state": state, "param_groups": [{**base, **group, "params": [0]}]}


@pytest.mark.parametrize(
    "group, words",
    [
        ({"lr": 0.0}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"lr": "1e-3"}, "not a number"),
        ({"betas": (1.0, 0.999)}, "betas"),
        ({"betas": (0.9, -0.1)}, "betas"),
        ({"betas": (0.9,)}, "two numbers"),
        ({"eps": -1.0}, "eps"),
        ({"momentum": 1.0}, "momentum"),
    ],
)
def test_optimizer_values_out_of_range_are_refused(group, words):
    with pytest.raises(InputError, match=words):
        check_optimizer_state(_adam(**group))


def test_a_valid_optimizer_state_passes_and_a_bad_second_moment_does_not():
    good = _adam(lr=torch.tensor(1e-3))
    assert check_optimizer_state(good) is good
    for bad in (float("nan"), -1.0, float("inf")):
        state = _adam()
        state["state"][0]["exp_avg_sq"][1] = bad
        with pytest.raises(InputError, match="exp_avg_sq"):
            check_optimizer_state(state)


def test_a_baseline_limit_that_overflows_or_is_not_finite_is_refused():
    up = [Relative("lambda_max", "max_increase", 100.0, True, "test")]
    ok = resolve_relative(up, {"lambda_max": Metric(2.0, 0.1)}, "b.json")
    assert ok[0].limit == 4.0
    for metric in (Metric(1.7e308, 0.0), Metric(math.inf, 0.0), Metric(1.0, math.nan)):
        with pytest.raises(InputError, match="b.json"):
            resolve_relative(up, {"lambda_max": metric}, "b.json")


def test_a_range_whose_squares_overflow_is_refused_and_a_wide_one_is_not():
    check_range(-1e150, 1e150, "range")
    for lo, hi in ((-1e308, 1.7e308), (-1e200, 1e200)):
        with pytest.raises(InputError, match="overflows"):
            check_range(lo, hi, "range")


def test_a_non_finite_loss_on_the_grid_is_a_numerical_failure_naming_the_point():
    coords = torch.tensor([[0.0, 0.0], [1.0, 2.0]], dtype=torch.float64)
    check_values(torch.tensor([1.0, 2.0]), coords, "loss", "the grid point ({})")
    with pytest.raises(NumericalError, match=r"inf at the grid point \(1, 2\)"):
        check_values(torch.tensor([1.0, math.inf]), coords, "loss", "the grid point ({})")


# ------------------------------------------------------------------ through the command line
def _data(tmp_path: Path) -> list[str]:
    torch.manual_seed(0)
    lin = nn.Linear(4, 3).double()
    torch.save(lin.state_dict(), tmp_path / "lin.pt")
    g = torch.Generator().manual_seed(1)
    x = torch.randn(32, 4, generator=g, dtype=torch.float64)
    torch.save({"x": x, "y": torch.randint(0, 3, (32,), generator=g)}, tmp_path / "data.pt")
    kwargs = json.dumps({"in_features": 4, "out_features": 3})
    return [str(tmp_path / "lin.pt"), "--model-factory", "torch.nn:Linear"] + [
        "--factory-kwargs",
        kwargs,
        "--data",
        str(tmp_path / "data.pt"),
    ]


def _run(args: list[str], tmp_path: Path, env: dict | None = None, stdout=subprocess.PIPE):
    return subprocess.run(
        [sys.executable, "-m", "landscape", *args],
        cwd=tmp_path,
        env={**ENV, **(env or {})},
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
    )


def _one_line(done, code: int, words: str) -> None:
    lines = done.stderr.splitlines()
    assert done.returncode == code, done.stderr
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert words in lines[0], lines[0]


@pytest.mark.parametrize(
    "env, words",
    [
        ({"WORLD_SIZE": "two"}, "WORLD_SIZE='two'"),
        ({"WORLD_SIZE": "2"}, "RANK is not set"),
        ({"WORLD_SIZE": "2", "RANK": "0", "LANDSCAPE_DIST_TIMEOUT": "inf"}, "inf"),
        ({"WORLD_SIZE": "2", "RANK": "0", "LANDSCAPE_DIST_TIMEOUT": "1e300"}, "1e300"),
    ],
)
def test_environment_variables_that_are_not_numbers_are_one_line(tmp_path, env, words):
    done = _run(["spectrum", *_data(tmp_path), "--k", "1"], tmp_path, env)
    _one_line(done, 2, words)


def test_rank_without_a_world_size_still_prints(tmp_path):
    done = _run(["spectrum", *_data(tmp_path), "--k", "1", "--json"], tmp_path, {"RANK": "1"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["top"], done.stdout


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_on_stdout_is_one_line(tmp_path):
    with open("/dev/full", "w") as full:
        done = _run(["spectrum", *_data(tmp_path), "--k", "1", "--json"], tmp_path, stdout=full)
    lines = done.stderr.splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and "no space left" in lines[0].lower(), done.stderr


SLOW_DATA = """
import time
import torch
from torch.utils.data import Dataset


class Slow(Dataset):
    def __len__(self):
        return 10_000

    def __getitem__(self, i):
        time.sleep(0.01)
        return torch.zeros(4, dtype=torch.float64), 0


def make():
    return Slow()
"""


def test_ctrl_c_prints_one_interrupted_line(tmp_path):
    args = _data(tmp_path)[:-2]
    (tmp_path / "slow.py").write_text(SLOW_DATA)
    proc = subprocess.Popen(
        [sys.executable, "-m", "landscape", "spectrum", *args, "--data", "slow.py:make"],
        cwd=tmp_path,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(6)  # imported, reading the data
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.splitlines() == ["error: interrupted"], err
    assert out == ""
