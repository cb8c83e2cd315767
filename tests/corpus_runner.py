"""Run many `landscape` invocations fast: import the CLI once, then fork one child per case.

Each child runs the console entry point `landscape.cli:main` with its own argv, working
folder, stdout and stderr (file descriptors 1 and 2), and exits with main's code; the parent
never computes anything (so no thread pool exists when it forks). Usage:

    python corpus_runner.py cases.json results.json [parallel]

cases.json holds [{"id", "args", "cwd"}]; results.json gets [{"id", "code", "out", "err"}].
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import landscape.analyses.gate  # noqa: F401 (what the commands load when they run,
import landscape.analyses.params  # noqa: F401   imported once, before any fork)
import landscape.cli.fields  # noqa: F401
import landscape.cli.session  # noqa: F401
import landscape.cli.thresholds  # noqa: F401
import landscape.curvature  # noqa: F401
from landscape.cli import main

UNCAUGHT = 99  # an exception escaped main(): never expected


def child(case: dict, out: str, err: str) -> None:
    code = UNCAUGHT
    try:
        os.chdir(case["cwd"])
        for fd, path in ((1, out), (2, err)):
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(handle, fd)
            os.close(handle)
        sys.argv = ["landscape", *case["args"]]
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def run_all(cases: list[dict], parallel: int) -> list[dict]:
    scratch = Path(tempfile.mkdtemp(prefix="landscape-corpus-"))
    running: dict[int, dict] = {}
    results: dict[str, dict] = {}
    queue = list(cases)
    while queue or running:
        while queue and len(running) < parallel:
            case = queue.pop(0)
            out, err = scratch / f"{case['id']}.out", scratch / f"{case['id']}.err"
            pid = os.fork()
            if pid == 0:
                child(case, str(out), str(err))
            running[pid] = {**case, "out_file": out, "err_file": err}
        pid, status = os.wait()
        case = running.pop(pid)
        results[case["id"]] = {
            "id": case["id"],
            "code": os.waitstatus_to_exitcode(status),
            "out": case["out_file"].read_text(errors="replace"),
            "err": case["err_file"].read_text(errors="replace"),
        }
    return [results[c["id"]] for c in cases]


if __name__ == "__main__":
    cases = json.loads(Path(sys.argv[1]).read_text())
    parallel = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    Path(sys.argv[2]).write_text(json.dumps(run_all(cases, parallel)))
