"""The command line as a client of the library: its --json documents are the ones it printed
before it became one (saved runs of the pre-change command line on the bundled sample), its
errors write the library's fields as flags, and every solving command takes --basis-memory."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch
from cli import run
from torch import nn

import landscape as ls
from landscape.cli.fields import as_flags, flagged
from landscape.errors import InputError

SAVED = sorted((Path(__file__).parent / "data" / "cli_json").glob("run_*.json"))
MACHINE = ("seconds", "budget")  # timings and the free memory
# the surface's route: vmap or the loop, whichever was faster on this machine at this moment
ROUTE = ("mode", "points_per_pass", "reductions", "note")


def same(a, b, where: str = "") -> None:
    """Equal documents: keys, order of lists, strings (paths from the sample folder on) and
    exact values; floats to 1e-9 (the same sums, possibly in another thread order)."""
    if isinstance(a, dict):
        skip = MACHINE + (ROUTE if where.endswith("/evaluation") else ())
        keys = [k for k in a if k not in skip]
        assert keys == [k for k in b if k not in skip], where
        for k in keys:
            same(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) or a == b, (where, a, b)
    elif isinstance(a, str) and isinstance(b, str):
        sample = re.compile(r"^.*?(sample_models/)")
        assert sample.sub(r"\1", a) == sample.sub(r"\1", b), where
    else:
        assert a == b and type(a) is type(b), (where, a, b)


@pytest.mark.parametrize("saved", SAVED, ids=lambda p: p.stem)
def test_json_documents_are_the_pre_client_command_lines(saved, tmp_path, capsys, monkeypatch):
    """Saved with the command line of main before this change (commit 285ef7b; rerun at
    89de59c, which changed the density fields on purpose; run_5 rerun after the slices' refinement
    of the defaults merge, run_1-2 after the PSD bottoms' `bottom_intervals`), same args."""
    record = json.loads(saved.read_text())
    monkeypatch.chdir(tmp_path)
    out = run([*record["args"], "--json"], capsys, monkeypatch)
    assert out.code == 0, out.err
    same(record["json"], json.loads(out.out))


SOLVING = [
    ["spectrum"],
    ["ggn-gap", "--k", "1", "--probes", "2", "--mc-samples", "1"],
    ["sharpness", "--k", "1", "--lr", "0.1"],
    ["surface", "--directions", "hessian", "--grid", "3"],
]


EIGENVECTOR_LINES = ["taylor-check", "--direction", "top-eigenvector"]


@pytest.mark.parametrize(
    "args", [*SOLVING, EIGENVECTOR_LINES, ["gate", "--max", "lambda_max=1e9"]], ids=str
)
def test_a_basis_too_small_is_the_same_clear_error_in_every_solving_command(
    args, tmp_path, capsys, monkeypatch
):
    """3,300 parameters: one float32 vector is 13.2kB, so 10kB is refused before any product,
    in one line that names the flag and the size that fits."""
    from sample_models import SAMPLE_CHECKPOINT

    monkeypatch.chdir(tmp_path)
    given = [args[0], str(SAMPLE_CHECKPOINT), *args[1:]] if args[0] == "gate" else args
    r = run([*given, "--basis-memory", "10kB"], capsys, monkeypatch)
    lines = [x for x in r.err.splitlines() if x.startswith("error:")]
    assert r.code == 2 and r.out == "" and len(lines) == 1, r.err
    assert "the basis budget 10kB is too small for the eigen-solver's Krylov basis" in lines[0]
    assert "of 3,300 parameters" in lines[0] and "give --basis-memory" in lines[0]
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("args", [SOLVING[0], SOLVING[2], SOLVING[3]], ids=str)
def test_a_given_budget_is_reported_in_the_solver_block(args, tmp_path, capsys, monkeypatch):
    """The basis (its rows of 3,300 parameters, one the residual) fits in the budget given."""
    monkeypatch.chdir(tmp_path)
    fast = ["--k", "1", "--trace-samples", "3"] if args[0] == "spectrum" else []
    if args[0] == "sharpness":
        fast = ["--ascent-steps", "1", "--avg-samples", "2", "--slice-points", "3"]
    r = run([*args, *fast, "--basis-memory", "600kB", "--json"], capsys, monkeypatch)
    assert r.code == 0, r.err
    basis = json.loads(r.out)["solver"]["basis"]
    size = {"float64": 8, "float32": 4}[basis["dtype"]]
    assert basis["budget"] == 600_000 and basis["bytes"] == (basis["vectors"] + 1) * 3300 * size
    assert basis["bytes"] <= 600_000 < 300 * 3300 * 8  # within it, and below the default's


def test_the_library_takes_basis_memory_in_every_solving_call():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))  # 43 parameters
    data = (torch.randn(16, 4), torch.randint(0, 3, (16,)))
    for call, extra in ((ls.ggn_gap, {"k": 1, "probes": 2, "mc_samples": "1"}),
                        (ls.sharpness, {"k": 1, "lr": 0.1, "ascent_steps": 1, "avg_samples": 2}),
                        (ls.surface, {"directions": "hessian", "grid": 3})):  # fmt: skip
        with pytest.raises(InputError, match="too small") as exc:
            call(model, data, basis_memory=100, device="cpu", **extra)
        assert exc.value.fields == ("basis_memory",)
    report = ls.sharpness(model, data, basis_memory="2kB", device="cpu", k=1, ascent_steps=1)
    assert report.solver.basis.budget == 2000
    report = ls.surface(model, data, solver=ls.SolverSettings(basis_memory=3000), device="cpu",
                        directions="hessian", grid=3)  # fmt: skip
    assert report.solver.basis.budget == 3000


def test_fields_become_flags_at_the_edge():
    assert flagged("k_bottom=7 is too many", "k_bottom", "--k-bottom") == "--k-bottom 7 is too many"
    assert flagged("e.g. range='-1,1'", "range", "--range") == "e.g. --range=-1,1"
    assert flagged("use e.g. mc_samples='1,4'", "mc_samples", "--mc-samples") == (
        "use e.g. --mc-samples 1,4"
    )
    assert flagged("unknown direction 'x'", "direction", "--direction") == "unknown --direction 'x'"
    assert flagged("directions names 1 file(s)", "direction", "--direction") == (
        "directions names 1 file(s)"  # another word that starts alike is left alone
    )
    exc = as_flags(InputError("k=9 is larger than 4", "use k=4 or fewer", "k"), "spectrum")
    assert exc.line() == "--k 9 is larger than 4. use --k 4 or fewer" == str(exc)
    kept = as_flags(InputError("model_b is missing", "pass it", "model_b"), "spectrum")
    assert kept.line() == "model_b is missing. pass it"  # no such option: left as the field


def test_a_field_marked_in_the_fix_leaves_the_same_word_of_the_problem_alone():
    """A field that is also a word of the prose is marked `field` (or `field`=value) in one
    part of the message; then the word stands as prose everywhere else, the problem included."""
    nan = InputError("the loss at these weights is nan", "or a wrong `loss`", "loss")
    assert as_flags(nan, "spectrum").line() == "the loss at these weights is nan. or a wrong --loss"
    none = InputError(
        "no direction left to check (the direction is 0)",
        "choose `direction`=random or give `direction_file`",
        ("direction", "direction_file"),
    )
    assert as_flags(none, "taylor_check").line() == (
        "no direction left to check (the direction is 0). "
        "choose --direction random or give --direction-file"
    )
    dim = InputError("classes along 1 or -1", "say which with `class_dim` 1 or `class_dim` -1",
                     "class_dim")  # fmt: skip
    assert as_flags(dim, "spectrum").fix == "say which with --class-dim 1 or --class-dim -1"
