"""`landscape gate`: certified decisions, exit codes, baselines and JUnit, on a model whose
Hessian is known in closed form (linear least squares: H = (2/NC)·I_C ⊗ XᵀX)."""

import json
import math
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from landscape.analyses import gate as g
from landscape.analyses.sharpness import METRICS, Metric
from landscape.cli import app, thresholds
from landscape.errors import InputError, NumericalError

ROOT = Path(__file__).resolve().parents[1]
N, D, C = 40, 5, 3


@pytest.fixture
def linear(tmp_path, monkeypatch):
    """A checkpoint of z = Wx with mse, its data, and the closed-form λ_max."""
    monkeypatch.chdir(tmp_path)
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(N, D, generator=gen, dtype=torch.float64)
    y = torch.randn(N, C, generator=gen, dtype=torch.float64)
    model = nn.Linear(D, C, bias=False).double()
    torch.save({"x": x, "y": y}, tmp_path / "data.pt")
    torch.save(
        {
            "state_dict": model.state_dict(),
            "factory": "torch.nn:Linear",
            "factory_kwargs": {"in_features": D, "out_features": C, "bias": False},
            "loss": "mse",
            "data": "data.pt",
        },
        tmp_path / "linear.pt",
    )
    lam = float(2 * torch.linalg.svdvals(x)[0] ** 2 / (N * C))
    return tmp_path / "linear.pt", lam


def run_cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "landscape", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def invoke(*args):
    return CliRunner().invoke(app, ["gate", *map(str, args), "--trust-checkpoint"])


def gate_json(*args) -> dict:
    result = invoke(*args, "--json")
    assert result.exception is None or isinstance(result.exception, g.GateFailed), result.output
    return json.loads(result.stdout)


# ---------------------------------------------------------------------------- decisions
@pytest.mark.parametrize(
    "value, bound, kind, limit, verdict",
    [
        (1.0, 0.1, "max", 1.2, "pass"),
        (1.0, 0.1, "max", 0.8, "fail"),
        (1.0, 0.1, "max", 1.05, "undecided"),
        (1.0, 0.1, "max", 0.95, "undecided"),
        (1.0, 0.1, "max", 1.1, "undecided"),  # value + bound = limit is not below it
        (1.0, None, "max", 1.0, "undecided"),
        (1.0, None, "max", 1.0 + 1e-12, "pass"),
        (1.0, 0.1, "min", 0.8, "pass"),
        (1.0, 0.1, "min", 1.2, "fail"),
        (1.0, 0.1, "min", 0.95, "undecided"),
        (-1.0, 0.5, "min", -2.0, "pass"),
    ],
)
def test_certified_decisions(value, bound, kind, limit, verdict):
    assert g.decide(value, bound, kind, limit) == verdict


def test_exit_codes_of_verdict_mixes():
    def d(verdict):
        return g.Decision("m", "max", 1.0, 0.5, 0.1, verdict, "", "test")

    assert g.exit_code([d("pass")], False) == 0
    assert g.exit_code([d("pass"), d("fail")], True) == 1
    assert g.exit_code([d("undecided")], False) == 1
    assert g.exit_code([d("undecided")], True) == 0
    assert g.exit_code([d("fail"), d("error")], True) == 3


def test_nan_and_missing_metrics_are_numerical_errors():
    thresholds = [g.Threshold("lambda_max", "max", 1.0, "t"), g.Threshold("trace", "max", 1.0, "t")]
    decisions = g.evaluate(thresholds, {"lambda_max": Metric(math.nan, 0.0)})
    assert [x.verdict for x in decisions] == ["error", "error"]
    report = g.make_report(decisions, {}, False, None)
    assert report.exit_code == 3
    with pytest.raises(NumericalError):
        g.raise_for(report)


# ------------------------------------------------------------------------ the command
def test_thresholds_just_below_and_above_lambda_max_flip_the_exit_code(linear):
    path, lam = linear
    above = invoke(path, "--tol", "1e-10", "--max", f"lambda_max={lam * (1 + 1e-6)!r}")
    below = run_cli(
        "gate",
        path,
        "--trust-checkpoint",
        "--tol",
        "1e-10",
        "--max",
        f"lambda_max={lam * (1 - 1e-6)!r}",
        cwd=path.parent,
    )  # the console entry point: its real exit code
    assert above.exit_code == 0, above.output
    assert below.returncode == 1, below.stderr
    assert "gate failed: lambda_max fail" in below.stderr
    assert len(below.stderr.strip().splitlines()) == 1  # one line, no traceback
    result = invoke(path, "--tol", "1e-10", "--min", f"lambda_max={lam * (1 - 1e-6)!r}")
    assert result.exit_code == 0, result.output


def test_undecided_fails_unless_allowed(linear):
    path, lam = linear
    first = gate_json(path, "--max", f"lambda_max={2 * lam}")["metrics"]["lambda_max"]
    assert abs(first["value"] - lam) <= first["error_bound"] + 1e-12
    assert first["error_bound"] > 0
    inside = repr(first["value"] + first["error_bound"] / 2)
    result = invoke(path, "--max", f"lambda_max={inside}")
    assert isinstance(result.exception, g.GateFailed) and result.exit_code == 1
    assert "undecided" in str(result.exception)
    result = invoke(path, "--max", f"lambda_max={inside}", "--allow-undecided")
    assert result.exit_code == 0, result.output
    assert "undecided (allowed)" in result.stdout


def test_only_the_named_metrics_are_computed(linear):
    path, lam = linear
    data = gate_json(path, "--max", f"lambda_max={2 * lam}", "--min", "loss=0")
    assert sorted(data["metrics"]) == ["lambda_max", "loss"]
    assert data["passed"] and data["exit_code"] == 0


def write_baseline(folder: Path, value: float) -> Path:
    path = folder / "old.json"
    path.write_text(json.dumps({"metrics": {"lambda_max": {"value": value, "error_bound": 0}}}))
    return path


@pytest.mark.parametrize(
    "allowed, growth, passes",
    [
        ("10%", 1.05, True),  # λ = 1.05·b ≤ 1.10·b
        ("3%", 1.05, False),  # λ = 1.05·b > 1.03·b
    ],
)
def test_baseline_percentages(linear, allowed, growth, passes):
    path, lam = linear
    baseline = write_baseline(path.parent, lam / growth)
    (path.parent / "gate.toml").write_text(f'[gate]\nlambda_max = {{max_increase = "{allowed}"}}\n')
    data = gate_json(path, "--config", "gate.toml", "--baseline", baseline)
    decision = data["decisions"][0]
    assert decision["limit"] == pytest.approx(lam / growth * (1 + float(allowed[:-1]) / 100))
    assert data["passed"] is passes
    assert decision["source"].startswith("baseline")


def test_relative_thresholds_arithmetic():
    base = {"lambda_min": Metric(-2.0), "trace": Metric(10.0)}
    relative = [
        g.Relative("lambda_min", "max_decrease", 10, True, "t"),
        g.Relative("lambda_min", "max_increase", 10, True, "t"),
        g.Relative("trace", "max_increase", 0.5, False, "t"),
    ]
    limits = [(t.kind, t.limit) for t in thresholds.resolve_relative(relative, base, "old.json")]
    assert limits == [
        ("min", pytest.approx(-2.2)),
        ("max", pytest.approx(-1.8)),
        ("max", pytest.approx(10.5)),
    ]


def test_junit_xml_parses_with_one_case_per_threshold(linear, tmp_path):
    path, lam = linear
    first = gate_json(path, "--max", f"lambda_max={2 * lam}")["metrics"]["lambda_max"]
    inside = repr(first["value"] + first["error_bound"] / 2)
    junit = tmp_path / "reports" / "gate.xml"
    result = invoke(
        path,
        "--max",
        f"lambda_max={2 * lam}",
        "--max",
        f"lambda_max={lam / 2}",
        "--max",
        f"lambda_max={inside}",
        "--junit",
        junit,
    )
    assert result.exit_code == 1
    suite = ET.parse(junit).getroot()
    assert suite.tag == "testsuite"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "2", "0")
    cases = suite.findall("testcase")
    assert [c.get("name").split()[:2] for c in cases] == [["lambda_max", "max"]] * 3
    assert cases[0].find("failure") is None
    assert cases[1].find("failure").get("type") == "fail"
    assert cases[2].find("failure").get("type") == "undecided"


def test_unconverged_solver_is_a_numerical_failure(linear, tmp_path):
    path, lam = linear
    junit = tmp_path / "gate.xml"
    result = invoke(path, "--max-products", "2", "--max", f"lambda_max={2 * lam}", "--junit", junit)
    assert isinstance(result.exception, NumericalError), result.output
    assert result.exception.exit_code == 3
    assert "did not converge" in str(result.exception)
    assert ET.parse(junit).getroot().get("errors") == "1"


# --------------------------------------------------------------------------- bad input
def test_unknown_metric_exits_2_with_one_line(linear):
    path, _ = linear
    result = run_cli("gate", path, "--trust-checkpoint", "--max", "lamda_max=1", cwd=path.parent)
    assert result.returncode == 2
    assert "did you mean 'lambda_max'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args, text",
    [
        (["--max", "lambda_max"], "is not name=value"),
        (["--max", "lambda_max=big"], "is not a number"),
        ([], "no thresholds"),
        (["--max", "lambda_max=1", "--baseline", "missing.json"], "not found"),
        (["--max", "preconditioned_sharpness=1"], "no optimizer state"),
        (["--max", "stability_margin=1"], "no learning rate"),
    ],
)
def test_bad_input_is_an_input_error(linear, args, text):
    path, _ = linear
    result = invoke(path, *args)
    assert isinstance(result.exception, InputError), result.output
    assert text in str(result.exception)


def test_bad_gate_tables(linear):
    path, _ = linear
    folder = path.parent
    cases = {
        "lambda_max = 50\n": "not a table",
        "lambda_max = {maximum = 50}\n": "unknown key",
        'lambda_max = {max_increase = "10%"}\n': "no --baseline",
    }
    for body, text in cases.items():
        (folder / "gate.toml").write_text("[gate]\n" + body)
        result = invoke(path, "--config", "gate.toml")
        assert isinstance(result.exception, InputError), body
        assert text in str(result.exception), (body, str(result.exception))
    write_baseline(folder, 1.0)
    result = invoke(path, "--max", "lambda_max=1", "--baseline", "old.json")
    assert "no threshold is relative" in str(result.exception)


def test_the_example_config_names_known_metrics():
    table = thresholds.read_gate_file(ROOT / "configs" / "gate.toml")
    absolute, relative = thresholds.parse_table(table, "configs/gate.toml")
    assert {t.metric for t in absolute} >= {"lambda_max", "lambda_min", "trace"}
    thresholds.check_names(absolute, [*METRICS, "taylor_order"])
    assert not relative


def test_taylor_order_from_the_taylor_check(linear):
    path, _ = linear
    data = gate_json(path, "--min", "taylor_order=2.9")
    metric = data["metrics"]["taylor_order"]
    assert metric["value"] >= 2.9  # a quadratic loss: R₂ᴴ is exact (or of order 3)
    assert data["passed"]


def test_the_gate_names_its_checkpoint_and_never_gates_the_sample(
    linear, tmp_path, capsys, monkeypatch
):
    from cli import run

    path, lam = linear
    data = gate_json(path, "--max", f"lambda_max={2 * lam}", "--junit", str(tmp_path / "g.xml"))
    assert data["checkpoint"] == str(path)
    suite = ET.parse(tmp_path / "g.xml").getroot()
    assert suite.find("properties/property").attrib == {"name": "checkpoint", "value": str(path)}
    monkeypatch.chdir(tmp_path)
    r = run(["gate", "--max", "lambda_max=50"], capsys, monkeypatch)
    assert r.code == 2 and r.out == "" and r.err.count("\n") == 1
    assert "`landscape gate` needs a checkpoint" in r.err
