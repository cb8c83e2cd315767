"""The bad-input corpus (tests/corpus.py) through the console entry point.

Every case runs in a process of its own with an empty working folder: `corpus_runner.py`
imports the CLI once and forks one child per case, so the corpus stays fast; a selection also
runs through the installed `landscape` script itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from corpus import build_inputs, cases, controls

HERE = Path(__file__).parent
CASES = {c.id: c for c in cases(None)}
CONTROLS = [case.id for case, _ in controls(None)]
# Through the installed console script: usage errors, trust refusals and unwritable outputs.
SCRIPT_CASES = [
    "unknown-option",
    "not-an-int",
    "unknown-command",
    "pt2-renamed",
    "meta-factory-pt",
    "pt2-truncated-trusted",
    "junit-and-bad-out",
    "unconverged",
]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "100"}


def _workdir(folder: Path, case) -> Path:
    """An empty working folder holding only the case's own setup files."""
    folder.mkdir(parents=True)
    for name, data in case.setup.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Inputs, every case and control run once (forked), and the console-script selection."""
    root = tmp_path_factory.mktemp("corpus")
    files = build_inputs(root)
    every = cases(files) + [case for case, _ in controls(files)]
    jobs = [
        {"id": c.id, "args": c.args, "cwd": str(_workdir(root / "cases" / c.id, c))} for c in every
    ]
    (root / "cases.json").write_text(json.dumps(jobs))
    runner = [sys.executable, str(HERE / "corpus_runner.py"), "cases.json", "results.json", "2"]
    subprocess.run(runner, cwd=root, env=ENV, check=True, timeout=900)
    results = {r["id"]: r for r in json.loads((root / "results.json").read_text())}
    by_id = {c.id: c for c in cases(files)}
    with ThreadPoolExecutor(2) as pool:
        scripted = dict(
            zip(SCRIPT_CASES, pool.map(lambda i: _script(root, by_id[i]), SCRIPT_CASES))
        )
    return root, files, results, scripted


def _script(root: Path, case) -> dict:
    folder = _workdir(root / "script" / case.id, case)
    done = subprocess.run(
        [_console_script(), *case.args],
        cwd=folder,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return {"code": done.returncode, "out": done.stdout, "err": done.stderr, "cwd": folder}


def _console_script() -> str:
    script = Path(sys.executable).parent / "landscape"
    assert script.exists(), f"install the package first (pip install -e .): {script} is missing"
    return str(script)


def check(case, result: dict, folder: Path, markers: Path) -> None:
    lines = result["err"].splitlines()
    assert result["code"] == case.code, result["err"]
    assert result["out"] == "", result["out"]
    assert len(lines) == 1, result["err"]
    assert lines[0].startswith("error: ") and "Traceback" not in result["err"]
    assert case.words.lower() in lines[0].lower(), lines[0]
    left = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert left == sorted(case.setup), f"files left behind: {left}"
    for name, data in case.setup.items():
        assert (folder / name).read_bytes() == data, f"{name} was changed"
    if case.marker is not None:
        assert not (markers / f"{case.marker}.ran").exists(), f"{case.marker} ran code"


@pytest.mark.parametrize("case_id", list(CASES))
def test_bad_input(corpus, case_id):
    root, files, results, _ = corpus
    case = {c.id: c for c in cases(files)}[case_id]
    check(case, results[case_id], root / "cases" / case_id, files["markers"])


@pytest.mark.parametrize("case_id", SCRIPT_CASES)
def test_bad_input_through_the_console_script(corpus, case_id):
    root, files, _, scripted = corpus
    case = {c.id: c for c in cases(files)}[case_id]
    check(case, scripted[case_id], scripted[case_id]["cwd"], files["markers"])


def test_the_corpus_is_large_and_its_payloads_are_live(corpus):
    """With --trust-checkpoint the same kinds of file do run their code: the markers the
    corpus checks for would appear if a refusal were missing."""
    _, files, _, _ = corpus
    assert len(CASES) >= 60
    for _, marker in controls(files):
        assert (files["markers"] / f"{marker}.ran").exists(), marker
    malicious = {c.marker for c in CASES.values() if c.marker}
    assert not any((files["markers"] / f"{m}.ran").exists() for m in malicious)
