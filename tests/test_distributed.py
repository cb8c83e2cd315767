"""Two gloo ranks under torchrun against one process: the same figures to 1e-10 (the residual
bounds, being round-off, to 1e-9·max|λ|) for every command, rank 0 alone writes, and a rank
that hangs or fails ends the run on every rank in bounded time with one line on rank 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from cli import run

from sample_models import SAMPLE_CHECKPOINT

TIMEOUT = 240


def torchrun(*args: str, cwd, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node", "2", "-m", "landscape", *args]
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
    for key in ("lambda_max", "lambda_min"):
        assert close(one["condition"][key], two["condition"][key]), key
    for a, b in zip(*(r["condition"]["negative_fraction_interval"] for r in (one, two))):
        assert close(a, b)
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


ROUNDOFF = 1e-13  # figures this small are round-off: ‖(F − G)v‖/‖Gv‖, a layer's ‖T‖/‖G‖ at T = 0


def same_report(one, two, scale: float, path: str = "") -> None:
    """Every number of two reports equal to 1e-10 relative, residual bounds (round-off) to
    1e-9·scale, figures that are round-off (both ≤ ROUNDOFF) as equal; everything else (counts,
    verdicts, names) exactly."""
    if isinstance(one, dict):
        assert set(one) == set(two), path
        for key in one:
            if key not in ("seconds", "distributed", "strategy", "basis"):  # basis: memory
                same_report(one[key], two[key], scale, f"{path}.{key}")
    elif isinstance(one, list):
        assert len(one) == len(two), path
        for i, (a, b) in enumerate(zip(one, two, strict=True)):
            same_report(a, b, scale, f"{path}[{i}]")
    elif isinstance(one, float) and path.endswith(("error_bound", "margin_bound")):
        assert abs(one - two) <= 1e-9 * scale, (path, one, two)
    elif isinstance(one, float) and max(abs(one), abs(two)) <= ROUNDOFF:
        pass
    elif isinstance(one, float):
        assert close(one, two), (path, one, two)
    else:
        assert one == two, (path, one, two)


def values(report) -> list[float]:
    """Every figure called `value` in a report (the scale of its residual bounds)."""
    if isinstance(report, dict):
        own = [abs(report["value"])] if isinstance(report.get("value"), float) else []
        return own + [v for item in report.values() for v in values(item)]
    if isinstance(report, list):
        return [v for item in report for v in values(item)]
    return []


def one_and_two(args: list[str], tmp_path, capsys, monkeypatch, code: int = 0, files=()):
    """The JSON reports of one process (in-process, through the entry point) and of two
    ranks (torchrun, which also writes `files`), equal as `same_report` says; rank 1 printed
    nothing, and a failing exit code is every rank's."""
    result = torchrun(*args, *files, "--json", cwd=tmp_path)
    assert result.returncode == (0 if code == 0 else 1), result.stderr[-2000:]
    assert result.stdout.strip(), result.stderr[-3000:]  # rank 0's report, else say why
    two = json.loads(result.stdout)  # one report: rank 1 printed nothing
    monkeypatch.chdir(tmp_path)
    single = run([*args, "--json"], capsys, monkeypatch)
    assert single.code == code, single.err
    one = json.loads(single.out)
    assert one["distributed"] is None
    same_report(one, two, max(values(one)))
    return one, two, result


def test_mc_fisher_spectrum_on_two_uneven_ranks(tmp_path, capsys, monkeypatch):
    """The Monte-Carlo Fisher's labels are drawn over all N examples on every rank (the
    one-process draw): another draw would move its eigenvalues far beyond 1e-10."""
    args = ["spectrum", "--curvature", "fisher", "--mc-samples", "3", "--samples", "999"]
    one, two, _ = one_and_two([*args, "--k", "3", "--k-bottom", "0"], tmp_path, capsys, monkeypatch)
    assert two["distributed"]["examples_per_rank"] == [500, 499]
    assert one["top"][0]["value"] > 0


def test_ggn_gap_on_two_ranks_equals_one_process(tmp_path, capsys, monkeypatch):
    """H, G, T spectra, the Frobenius gap, the directions, the Fisher checks, the Monte-Carlo
    Fisher for two S, the fit context (every example's outputs) and the per-layer gaps."""
    args = ["ggn-gap", "--samples", "999", "--k", "2", "--mc-samples", "1,4", "--per-layer"]
    one, two, _ = one_and_two(args, tmp_path, capsys, monkeypatch)
    assert two["distributed"] == {
        "world_size": 2,
        "backend": "gloo",
        "examples_per_rank": [500, 499],
    }
    assert [p["samples"] for p in one["mc_fisher"]["points"]] == [1, 4]


def test_sharpness_on_two_ranks_equals_one_process(tmp_path, capsys, monkeypatch):
    """Every figure, Adam's (the sample holds its state) and the adaptive worst case over
    batches of 128, one of which (384..511) straddles the ranks' shards (500 each) and four
    of which rank 1 holds none of; the files are written once, by rank 0."""
    args = ["sharpness", "--samples", "1000", "--k", "2", "--ascent-steps", "8"]
    one, two, _ = one_and_two(args, tmp_path, capsys, monkeypatch, files=["--out", "out"])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "report.json",
        "slices.png",
        "spectrum.png",
    ]
    assert json.loads((tmp_path / "out" / "report.json").read_text()) == two
    assert one["adaptive_sharpness"]["chunks"] == 8 and one["adam"] is not None
    assert two["distributed"]["examples_per_rank"] == [500, 500]


def test_gate_on_two_ranks_decides_as_one_process(tmp_path, capsys, monkeypatch):
    """Same decisions, values and bounds (λ_max 43.4 passes, the adaptive worst case 0.0095
    fails); the violated threshold fails every rank with exit 1 (torchrun exits 1 and names
    rank 0's code); the JUnit file, written once by rank 0, names the world."""
    (tmp_path / "gate.toml").write_text(  # torchrun would take --max for its --max-restarts
        "[gate]\nlambda_max = {max = 50}\nadaptive_sharpness = {max = 0.001}\n"
    )
    # trusted by name: under a non-editable install (CI) the child processes' bundled sample
    # is site-packages' copy, and this path (the source tree's) is another file to them
    args = ["gate", str(SAMPLE_CHECKPOINT), "--config", "gate.toml", "--trust-checkpoint"]
    files = ["--junit", "gate.xml"]
    one, two, result = one_and_two(args, tmp_path, capsys, monkeypatch, code=1, files=files)
    verdicts = {d["metric"]: d["verdict"] for d in two["decisions"]}
    assert verdicts == {"lambda_max": "pass", "adaptive_sharpness": "fail"}
    assert two["exit_code"] == 1 and "exitcode  : 1" in result.stderr
    assert two["distributed"]["world_size"] == 2
    junit = (tmp_path / "gate.xml").read_text()
    assert '<property name="world_size" value="2" />' in junit
    assert '<property name="examples_per_rank" value="512,512" />' in junit
    assert junit.count("<failure") == 1


FAULTY = """
import os, time
import torch
from sample_models import SAMPLE_DIR

def data():
    d = torch.load(SAMPLE_DIR / "classifier_data.pt")
    if os.environ["RANK"] == "1":
        if os.environ["FAULT"] == "hang":
            time.sleep(3600)
        raise ValueError("rank-local data broke")
    return d["x"], d["y"]
"""


@pytest.mark.parametrize("fault", ["hang", "raise"])
def test_a_rank_that_hangs_or_fails_ends_the_run_in_one_line(tmp_path, fault):
    """Rank 1 hangs (rank 0 times out after LANDSCAPE_DIST_TIMEOUT and names it) or fails
    with its own error (rank 0 prints that error with the rank): every rank ends in bounded
    time, one error line in all, no traceback of ours, nothing written."""
    (tmp_path / "faulty.py").write_text(FAULTY)
    start = time.monotonic()
    result = torchrun(
        "spectrum",
        "--data",
        "faulty.py:data",
        "--out",
        "out",
        cwd=tmp_path,
        env={"FAULT": fault, "LANDSCAPE_DIST_TIMEOUT": "5"},
    )
    assert time.monotonic() - start < 120
    assert result.returncode != 0 and result.stdout == ""
    ours = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    if fault == "hang":
        assert ours == [
            "error: the run across processes timed out: rank 1 of 2 died or hung (rank 0: Timed "
            "out waiting 5000ms for recv operation to complete). see that rank's output or "
            "torchrun's summary; the processes wait 5 s for each other (LANDSCAPE_DIST_TIMEOUT)"
        ]
    else:
        assert ours == [
            "error: rank 1 of 2: data factory 'faulty.py:data' failed: ValueError: rank-local "
            "data broke. fix the factory; it is called with no arguments"
        ]
    assert "landscape/" not in result.stderr  # no traceback from our code on any rank
    assert "terminate called" not in result.stderr
    assert not (tmp_path / "out").exists()
