"""Run the console entry point in-process: exit code, stdout and stderr as a user sees them."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from landscape.cli import main


@dataclass
class Result:
    code: int
    out: str
    err: str


def run(args: list[str], capsys, monkeypatch) -> Result:
    monkeypatch.setattr(sys, "argv", ["landscape", *map(str, args)])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)
