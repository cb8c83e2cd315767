"""No output destroys an input or a special file, and a run's outputs are all or nothing.

The transaction (`render.transaction.write_all`) is driven to fail at every rename in turn, and
interrupted by KeyboardInterrupt, SIGINT and SIGTERM between renames: every old file must come
back byte for byte, no new or temporary file may remain, and the error must say what is true.
The checks (`render.files`) refuse inputs (also through symlinks and hard links), devices,
FIFOs, folders and two outputs naming one file, before any work.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from cli import run
from torch import nn

from landscape.errors import InputError
from landscape.render.files import Target, check_outputs, check_targets, input_files, planned
from landscape.render.transaction import write_all
from landscape.render.writers import Rendered, Targets

OLD = {"a.json": b"old a", "b.png": b"old b \x00\xff", "sub/c.xml": b"<old/>"}
NEW = {"a.json": b"new a", "b.png": b"new b", "sub/c.xml": b"<new/>", "fresh/d.txt": b"new d"}
LINEAR = [
    "--model-factory",
    "torch.nn:Linear",
    "--factory-kwargs",
    '{"in_features": 4, "out_features": 3}',
]


class Terminated(Exception):
    """What this test's own SIGTERM handler raises (the handler the run had before)."""


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root (hidden temporary and backup files included), with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def old(tmp_path) -> Path:
    for name, data in OLD.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    return tmp_path


def new_files(root: Path) -> dict[Path, bytes]:
    return {root / name: data for name, data in NEW.items()}


def fail_on(monkeypatch, nth: int, action) -> list[tuple[str, str]]:
    """os.replace runs `action(src, dst)` instead of renaming on its nth call; returns the calls."""
    real, calls = os.replace, []

    def replace(src, dst):
        calls.append((str(src), str(dst)))
        if len(calls) == nth:
            return action(src, dst, real)
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    return calls


def test_a_successful_write_replaces_every_file_and_leaves_nothing_else(old):
    os.chmod(old / "a.json", 0o640)
    write_all(new_files(old))
    assert tree(old) == NEW
    assert (old / "a.json").stat().st_mode & 0o777 == 0o640  # the replaced file's permissions


def test_every_failing_rename_restores_every_old_file(tmp_path):
    """Three existing targets, one new one in a new folder: 7 renames (3 aside, 4 into place).
    Whichever fails, the folder is as it was and the message says nothing was written."""
    for nth in range(1, 9):
        root = tmp_path / f"case{nth}"
        for name, data in OLD.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)

        def refuse(src, dst, real):
            raise OSError(errno.EACCES, "Permission denied", str(dst))

        mp = pytest.MonkeyPatch()
        calls = fail_on(mp, nth, refuse)
        try:
            if nth == 8:  # no eighth rename: all written
                write_all(new_files(root))
            else:
                with pytest.raises(InputError) as info:
                    write_all(new_files(root))
        finally:
            mp.undo()
        if nth == 8:
            assert len(calls) == 7 and tree(root) == NEW
            continue
        assert tree(root) == OLD, nth
        assert not (root / "fresh").exists()
        line = str(info.value)
        assert "Permission denied" in line and "no file was written" in line, line


def test_the_second_rename_failing(old, monkeypatch):
    def refuse(src, dst, real):
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))

    fail_on(monkeypatch, 2, refuse)
    with pytest.raises(InputError, match="no file was written"):
        write_all(new_files(old))
    assert tree(old) == OLD


def test_a_keyboard_interrupt_mid_commit_restores_everything(old, monkeypatch):
    def interrupt(src, dst, real):
        raise KeyboardInterrupt

    fail_on(monkeypatch, 4, interrupt)  # after a.json is in place and b.png set aside
    with pytest.raises(KeyboardInterrupt):
        write_all(new_files(old))
    assert tree(old) == OLD


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_between_renames_restores_everything(old, monkeypatch, signum):
    """The signal is held while the renames run, the files are put back, then the handler the
    run had before gets it (SIGINT: KeyboardInterrupt; here SIGTERM's handler raises)."""

    def terminated(*_):
        raise Terminated

    before = signal.signal(signal.SIGTERM, terminated)
    try:

        def kill(src, dst, real):
            os.kill(os.getpid(), signum)
            return real(src, dst)

        calls = fail_on(monkeypatch, 3, kill)
        expected = KeyboardInterrupt if signum == signal.SIGINT else Terminated
        with pytest.raises(expected):
            write_all(new_files(old))
        assert len(calls) > 3  # the renames went on and were undone
        assert tree(old) == OLD
        assert signal.getsignal(signal.SIGTERM) is terminated
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGTERM, before)


def test_a_signal_while_the_temporary_files_are_written(old, monkeypatch):
    def terminated(*_):
        raise Terminated

    before = signal.signal(signal.SIGTERM, terminated)
    real, synced = os.fsync, []

    def fsync(fd):
        synced.append(fd)
        if len(synced) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    try:
        with pytest.raises(Terminated):
            write_all(new_files(old))
    finally:
        signal.signal(signal.SIGTERM, before)
    assert tree(old) == OLD and not (old / "fresh").exists()


def test_a_failing_print_undoes_the_files(old):
    def full():
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(InputError, match="could not print the report on stdout") as info:
        write_all(new_files(old), then=full)
    assert "no file was written" in str(info.value)
    assert tree(old) == OLD


def test_a_file_that_cannot_be_put_back_is_named(old, monkeypatch):
    """The message stays true when the undoing fails too: the old content's place is named."""
    real = os.replace
    renames = []

    def replace(src, dst):
        renames.append(src)
        if str(src).endswith(".old"):  # putting a backup back
            raise OSError(errno.EIO, "Input/output error")
        if len(renames) == 4:
            raise OSError(errno.EIO, "Input/output error", str(dst))
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(InputError) as info:
        write_all(new_files(old))
    line = str(info.value)
    assert "no file was written" not in line and "could not be put back" in line
    backup = line.split("its old content is in '")[1].split("'")[0]
    assert Path(backup).read_bytes() in OLD.values()


def test_a_symlinked_target_is_written_through(tmp_path):
    (tmp_path / "real.json").write_bytes(b"old")
    (tmp_path / "link.json").symlink_to("real.json")
    write_all({tmp_path / "link.json": b"new"})
    assert (tmp_path / "link.json").is_symlink()
    assert (tmp_path / "real.json").read_bytes() == b"new"


# --------------------------------------------------------------------------- the checks
def target(path, flag="--junit") -> Target:
    return Target(flag, Path(path), Path(path))


@pytest.mark.parametrize("special", ["/dev/null", "/dev/zero"])
def test_a_device_is_refused(special):
    if not os.path.exists(special):
        pytest.skip(f"no {special} here")
    with pytest.raises(InputError, match="character device, not a regular file"):
        check_targets([target(special)], [])
    with pytest.raises(InputError, match="not a regular file"):
        write_all({Path(special): b"x"})  # the transaction's own last guard
    assert Path(special).is_char_device()


def test_a_fifo_and_a_link_to_it_are_refused(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    (tmp_path / "link.xml").symlink_to(fifo)
    for path in (fifo, tmp_path / "link.xml"):
        with pytest.raises(InputError, match="FIFO"):
            check_targets([target(path)], [])
        with pytest.raises(InputError, match="not a regular file"):
            write_all({path: b"x"})
    assert fifo.is_fifo() and sorted(p.name for p in tmp_path.iterdir()) == ["link.xml", "pipe"]


def test_a_folder_is_refused(tmp_path):
    with pytest.raises(InputError, match="is a folder"):
        check_targets([target(tmp_path)], [])


@pytest.mark.parametrize("how", ["same", "dotted", "hard link", "symlink"])
def test_the_checkpoint_under_any_name_is_refused(tmp_path, monkeypatch, how):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.pt").write_bytes(b"weights")
    name = {
        "same": "model.pt",
        "dotted": "sub/../model.pt",
        "hard link": "h.xml",
        "symlink": "s.xml",
    }
    if how == "hard link":
        os.link("model.pt", "h.xml")
    if how == "symlink":
        os.symlink("model.pt", "s.xml")
    with pytest.raises(InputError, match="is the checkpoint .* would destroy an input"):
        check_outputs({"model": "model.pt", "junit": name[how]}, "gate")
    assert (tmp_path / "model.pt").read_bytes() == b"weights"


def test_every_input_option_is_an_input(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ck").mkdir()
    names = [
        "ck/m.pt",
        "b.pt",
        "ck/data.pt",
        "f.py",
        "g.toml",
        "base.json",
        "d.pt",
        "e.pt",
        "c.toml",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    options = {
        "model": "ck/m.pt",
        "model_b": "b.pt",
        "data": "data.pt",  # a checkpoint's metadata names it beside the checkpoint
        "model_factory": "f.py:build",
        "gate": "g.toml",
        "baseline": "base.json",
        "direction_file": "d.pt",
        "directions": "d.pt,e.pt",
        "config": tmp_path / "c.toml",
    }
    found = {os.path.realpath(p) for _, p in input_files(options)}
    assert found == {os.path.realpath(n) for n in names}
    for name in names:
        with pytest.raises(InputError, match="would destroy an input"):
            check_targets([target(name)], input_files(options))


def test_two_outputs_naming_one_file_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pairs = [
        planned(None, Path("a.png"), Path("a.png"), ()),
        planned(None, Path("a.png"), Path("./x/../a.png"), ()),
        planned(Path("o"), Path("o/gate.png"), None, ("gate",)),
        planned(Path("o"), None, Path("o/report.json"), ("gate",)),
        planned(Path("o"), None, Path("p/../o/gate.png"), ("gate",)),
    ]
    for targets in pairs:
        with pytest.raises(InputError, match="name the same file"):
            check_targets(targets, [])
    (tmp_path / "one.png").write_bytes(b"x")
    os.link("one.png", "two.xml")
    with pytest.raises(InputError, match="name the same file"):
        check_targets(planned(None, Path("one.png"), Path("two.xml"), ()), [])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.png", "two.xml"]


def test_the_out_folders_own_files_are_checked(tmp_path):
    (tmp_path / "o" / "spectrum.png").mkdir(parents=True)
    with pytest.raises(InputError, match=r"--out '.*o' \(its spectrum.png\) is a folder"):
        check_outputs({"out": tmp_path / "o"}, "spectrum")
    check_outputs({"out": tmp_path / "o"}, "params")  # params draws no figure


def test_output_paths_expand_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    targets = Targets.from_options({"out": "~/x", "png": "~/f.png", "junit": None})
    assert targets.out == tmp_path / "home" / "x" and targets.png == tmp_path / "home" / "f.png"
    with pytest.raises(InputError, match="~"):
        Targets.from_options({"out": "~no_such_user_landscape/x"})


# --------------------------------------------------------------------------- through the CLI
@pytest.fixture
def linear(tmp_path) -> Path:
    torch.manual_seed(0)
    torch.save(nn.Linear(4, 3).double().state_dict(), tmp_path / "lin.pt")
    return tmp_path


def test_a_configs_out_goes_to_the_home_folder(linear, capsys, monkeypatch):
    monkeypatch.chdir(linear)
    monkeypatch.setenv("HOME", str(linear / "home"))
    (linear / "cfg.toml").write_text('out = "~/reports"\n')
    r = run(["params", "lin.pt", *LINEAR, "--config", "cfg.toml"], capsys, monkeypatch)
    assert r.code == 0, r.err
    report = json.loads((linear / "home" / "reports" / "report.json").read_text())
    assert report["num_params"] == 15
    assert not (linear / "~").exists()


def test_a_baseline_in_the_out_folder_is_refused_before_the_work(linear, capsys, monkeypatch):
    """`gate --baseline o/report.json --out o` would replace the baseline with the new report."""
    monkeypatch.chdir(linear)
    (linear / "o").mkdir()
    (linear / "o" / "report.json").write_text('{"metrics": {}}')
    args = ["gate", "lin.pt", *LINEAR, "--data", "absent.pt", "--max", "lambda_max=1"]
    r = run([*args, "--baseline", "o/report.json", "--out", "o"], capsys, monkeypatch)
    assert r.code == 2 and r.out == "", r.err
    assert "--out 'o' (its report.json) is the baseline report" in r.err
    assert (linear / "o" / "report.json").read_text() == '{"metrics": {}}'
    assert sorted(p.name for p in (linear / "o").iterdir()) == ["report.json"]


@dataclass(frozen=True)
class Tiny:
    value: float


def test_emit_on_a_full_stdout_writes_no_file(tmp_path, monkeypatch):
    from landscape.cli.output import emit

    class Full:
        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            pass

    monkeypatch.setattr(sys, "stdout", Full())
    rendered = Rendered(Tiny(1.0), view=lambda report: "view")
    with pytest.raises(InputError, match="could not print the report on stdout"):
        emit(rendered, {"json": True, "out": tmp_path / "o"})
    assert list(tmp_path.iterdir()) == []


# The sink as the console entry point runs it (one line and the exit code for a LandscapeError),
# in a process of its own: the interpreter's last flush of stdout must not fail again.
EMIT = """
import sys
from dataclasses import dataclass
from landscape.cli.output import emit, error_line
from landscape.errors import LandscapeError
from landscape.render.writers import Rendered

@dataclass(frozen=True)
class Report:
    rows: list

report = Report([[i, "x" * 60] for i in range(5000)])  # more than a pipe's buffer
try:
    emit(Rendered(report, view=lambda r: "\\n".join(map(str, r.rows))), eval(sys.argv[1]))
except LandscapeError as exc:
    error_line(exc.line())
    sys.exit(exc.exit_code)
"""


def _emit(options: dict, cwd: Path, stdout) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-c", EMIT, repr(options)]
    return subprocess.run(
        command, cwd=cwd, env=env, stdout=stdout, stderr=subprocess.PIPE, timeout=60
    )


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
@pytest.mark.parametrize("as_json", [True, False])
def test_a_full_disk_on_stdout_is_one_line_and_exit_2(tmp_path, as_json):
    with open("/dev/full", "w") as full:
        done = _emit({"json": as_json, "out": "o"}, tmp_path, full)
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert err.count("\n") == 1 and "No space left on device" in err and "Traceback" not in err
    assert "no file was written" in err and not (tmp_path / "o").exists()


@pytest.mark.parametrize("as_json", [True, False])
def test_a_closed_pipe_is_one_line_and_exit_2(tmp_path, as_json):
    reader, writer = os.pipe()
    os.close(reader)  # nobody will read the report
    try:
        done = _emit({"json": as_json, "out": "o"}, tmp_path, writer)
    finally:
        os.close(writer)
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert err.count("\n") == 1 and "Broken pipe" in err and "no file was written" in err
    assert not (tmp_path / "o").exists()


def test_junit_xml_holds_any_file_name():
    """A checkpoint or gate file name with control characters or undecodable bytes (lone
    surrogates) still gives XML a CI parser reads, the names escaped."""
    import xml.etree.ElementTree as ET

    from landscape.analyses.gate import Decision, make_report
    from landscape.render.junit import junit_xml

    name = "ck\x1b[2J\udcff.pt"
    decision = Decision("lambda_max", "max", 1.0, 2.0, 0.1, "fail", "above", f"{name} [gate]")
    report = make_report([decision], {}, False, None, checkpoint=name)
    suite = ET.fromstring(junit_xml(report))
    assert suite.find("properties/property").get("value") == "ck\\u001b[2J\\udcff.pt"
    assert "ck\\u001b[2J\\udcff.pt [gate]" in suite.find("testcase/failure").text
