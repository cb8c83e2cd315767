"""Two gloo ranks under torchrun against one process: the same figures to 1e-10 (the residual
bounds, being round-off, to 1e-9·max|λ|), rank 0 alone writes, commands that are not yet
data-parallel refuse in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from cli import run

TIMEOUT = 240


def torchrun(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node", "2", "-m", "landscape_cli", *args]
    return subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=cwd, timeout=TIMEOUT
    )


def close(a: float, b: float, rel: float = 1e-10) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)


def test_spectrum_on_two_ranks_equals_one_process(tmp_path, capsys, monkeypatch):
    args = ["spectrum", "--k", "3", "--k-bottom", "2", "--per-layer", "--trace", "--density"]
    args += ["--out", "out"]
    result = torchrun(*args, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    two = json.loads(result.stdout)  # one report: rank 1 printed nothing
    assert two["distributed"] == {
        "world_size": 2,
        "backend": "gloo",
        "examples_per_rank": [512, 512],
    }
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.json", "spectrum.png"]
    monkeypatch.chdir(tmp_path)
    one = json.loads(run([*args[:-2], "--json"], capsys, monkeypatch).out)
    assert one["distributed"] is None
    scale = abs(one["top"][0]["value"])
    assert close(two["loss"], one["loss"])
    for end in ("top", "bottom"):
        for a, b in zip(one[end], two[end], strict=True):
            assert close(a["value"], b["value"]) and a["converged"] == b["converged"]
            assert abs(a["error_bound"] - b["error_bound"]) <= 1e-9 * scale
    assert close(one["trace"]["value"], two["trace"]["value"])
    for key in ("lambda_max", "lambda_min", "negative_fraction"):
        assert close(one["condition"][key], two["condition"][key]), key
    for a, b in zip(one["per_layer"], two["per_layer"], strict=True):
        assert close(a["lambda_max"]["value"], b["lambda_max"]["value"])
        assert close(a["trace"]["value"], b["trace"]["value"])


def test_taylor_check_on_two_ranks_gives_the_same_verdicts(tmp_path, capsys, monkeypatch):
    """The residuals at the smallest steps are round-off, which a different summation order
    changes; the verdicts, the eigenvalues and the Taylor coefficients agree."""
    result = torchrun("taylor-check", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    two = json.loads(result.stdout)
    monkeypatch.chdir(tmp_path)
    one = json.loads(run(["taylor-check", "--json"], capsys, monkeypatch).out)
    assert close(one["loss"], two["loss"])
    for a, b in zip(one["directions"], two["directions"], strict=True):
        assert (a["name"], a["status"], a["passed"]) == (b["name"], b["status"], b["passed"])
        for key, value in a["decomposition"].items():
            assert close(value, b["decomposition"][key], 1e-9), (a["name"], key)
        if a["eigenvalue"] is not None:
            assert close(a["eigenvalue"], b["eigenvalue"])


@pytest.mark.parametrize("command", ["ggn-gap", "sharpness"])
def test_commands_not_yet_data_parallel_refuse_in_one_line(tmp_path, command):
    result = torchrun(command, cwd=tmp_path)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert lines == [
        f"error: `landscape {command}` does not run data-parallel yet. run it in one process "
        "(without torchrun); spectrum, taylor-check, surface and interpolate run under it"
    ]
