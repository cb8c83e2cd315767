"""The option table as a user meets it: `--help` through the installed script, choices checked
on the command line and in the config, and each value's source kept by the precedence."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from cli import run

from landscape.cli import options
from landscape.cli.fields import sharpness_settings
from landscape.cli.session import resolve

SCRIPT = shutil.which("landscape")


def script(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.skipif(SCRIPT is None, reason="the console script is not installed")
@pytest.mark.parametrize("command", options.COMMANDS)
def test_help_lists_every_option_with_its_default_and_choices(command):
    result = script(command.replace("_", "-"), "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    for o in options.options_of(command).values():
        if o.argument:
            continue
        assert o.flag in text, o.flag
        if o.choices:
            assert "|".join(o.choices) in text, o.name
        if o.default is not None and o.default is not False:
            assert f"[default: {o.default}]" in text, o.name


@pytest.mark.skipif(SCRIPT is None, reason="the console script is not installed")
def test_a_wrong_choice_is_one_line_with_the_close_match():
    result = script("spectrum", "--strategy", "kept-grap")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "unknown product strategy 'kept-grap' for --strategy" in result.stderr
    assert "did you mean kept-graph?" in result.stderr


def test_a_wrong_choice_in_the_config_names_the_key(tmp_path, capsys, monkeypatch):
    (tmp_path / "landscape.toml").write_text('curvature = "hesian"\n')
    monkeypatch.chdir(tmp_path)
    r = run(["spectrum"], capsys, monkeypatch)
    assert r.code == 2 and r.out == ""
    assert "unknown curvature 'hesian' for config option 'curvature'" in r.err
    assert "use one of: hessian, ggn, fisher, ef" in r.err


def test_aliases_in_the_config_still_work(tmp_path, monkeypatch):
    (tmp_path / "landscape.toml").write_text('dtype = "double"\nloss = "ce"\n')
    monkeypatch.chdir(tmp_path)
    opt, _, sources = resolve("spectrum", {})
    assert (opt["dtype"], opt["loss"]) == ("double", "ce")
    assert sources["dtype"] == sources["loss"] == "config"


def test_precedence_keeps_each_values_source(tmp_path, monkeypatch):
    (tmp_path / "landscape.toml").write_text("tol = 1e-9\nk = 7\n")
    monkeypatch.chdir(tmp_path)
    opt, _, sources = resolve("spectrum", {"k": 3})
    assert (opt["k"], sources["k"]) == (3, "cli")
    assert (opt["tol"], sources["tol"]) == (1e-9, "config")
    assert (opt["trace_samples"], sources["trace_samples"]) == (None, "default")


@pytest.mark.parametrize(
    ("source", "shown"),
    [("cli", "--lr"), ("config", "config"), ("metadata", "checkpoint metadata")],
)
def test_the_learning_rate_says_where_it_came_from(source, shown):
    opt = {**options.defaults("sharpness"), "lr": 0.25}
    settings = sharpness_settings(opt, {"lr": source}, num_params=10)
    assert (settings.lr, settings.lr_source) == (0.25, shown)


def test_config_types_follow_the_running_command(tmp_path, capsys, monkeypatch):
    """`mc_samples` is a count for spectrum and a list for ggn-gap: one table, two records."""
    (tmp_path / "landscape.toml").write_text('mc_samples = "1,4"\n')
    monkeypatch.chdir(tmp_path)
    opt, _, _ = resolve("ggn_gap", {})
    assert opt["mc_samples"] == "1,4"
    r = run(["spectrum", "--curvature", "fisher"], capsys, monkeypatch)
    assert r.code == 2 and "config option 'mc_samples'" in r.err and "integer" in r.err


@pytest.mark.skipif(SCRIPT is None, reason="the console script is not installed")
def test_help_lists_the_commands_in_the_readmes_order():
    text = script("--help").stdout.split("Commands:")[1]
    listed = [line.split()[0] for line in text.splitlines() if line.strip()]
    assert listed == [
        "spectrum",
        "ggn-gap",
        "taylor-check",
        "sharpness",
        "gate",
        "surface",
        "interpolate",
        "track",
        "params",
    ]


@pytest.mark.skipif(SCRIPT is None, reason="the console script is not installed")
def test_piped_output_never_cuts_or_splits_a_number(tmp_path):
    """Off a terminal (CI logs, `> file`) the tables get the width they need: at 80 columns the
    taylor-check table lost its exponents (`-8.65e-…`) and ggn-gap cells wrapped."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    for command in ("taylor-check", "ggn-gap"):
        out = subprocess.run(
            [SCRIPT, command], capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path
        ).stdout
        lines = out.splitlines()
        assert not [line for line in lines if "…" in line and "η =" not in line], command
        assert not [line for line in lines if line.rstrip(" │").endswith("±")], command
        assert any(len(line) > 80 for line in lines), command  # wider than the old cut


@pytest.mark.skipif(SCRIPT is None, reason="the console script is not installed")
@pytest.mark.parametrize("command", options.COMMANDS)
def test_help_ends_with_examples_of_the_command(command):
    name = command.replace("_", "-")
    text = script(name, "--help").stdout.split("Examples:")[1].split("Metrics")[0]
    examples = [line.strip() for line in text.splitlines() if line.strip()]
    assert len(examples) >= 2 and all(e.startswith(f"landscape {name}") for e in examples)


@pytest.mark.skipif(SCRIPT is None, reason="the console script is not installed")
def test_gate_help_lists_every_metric_name():
    from landscape.analyses.metric_names import METRICS, TAYLOR

    text = script("gate", "--help").stdout.split("Metrics")[1]
    listed = [line.strip() for line in text.splitlines()[1:] if line.strip()]
    assert listed == [*METRICS, TAYLOR]


def test_the_default_tolerance_follows_the_dtype_in_every_solver(tmp_path, capsys, monkeypatch):
    """float32 products cannot certify 1e-6·max|λ|: without --tol every command's solver
    takes 1e-4 in float32 (1e-6 in float64); a --tol given is kept."""
    from cli import run

    monkeypatch.chdir(tmp_path)
    args = ["sharpness", "--k", "1", "--lr", "0.1", "--json"]
    float32 = run([*args, "--dtype", "float32"], capsys, monkeypatch)
    assert json.loads(float32.out)["solver"]["tol"] == pytest.approx(1e-4)
    given = run([*args, "--dtype", "float32", "--tol", "3e-5"], capsys, monkeypatch)
    assert json.loads(given.out)["solver"]["tol"] == pytest.approx(3e-5)
    assert json.loads(run(args, capsys, monkeypatch).out)["solver"]["tol"] == pytest.approx(1e-6)
