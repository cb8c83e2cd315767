"""Which checkpoints a track runs over, and in what order.

Arguments are files, directories (their weights files) or glob patterns. The order is the
step each checkpoint records in its metadata (`step`, `global_step`, `iteration`, `epoch`,
Lightning's `global_step` at the top level), else the last number in the file name; a
checkpoint set where no file records a step is ordered by file name (said once, by the caller)."""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path

from landscape.errors import InputError

STEP_KEYS = ("step", "global_step", "iteration", "epoch")
SUFFIXES = {".pt", ".pth", ".bin", ".ckpt", ".tar", ".safetensors"}


@dataclass(frozen=True)
class Entry:
    path: Path
    step: int | None  # from the metadata
    name_number: int | None  # the last number in the file name


def expand(arguments: list[str]) -> list[Path]:
    """Files, directories and globs as a list of distinct files."""
    out: list[Path] = []
    for arg in arguments:
        path = Path(arg)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in SUFFIXES and p.is_file())
        elif path.is_file():
            found = [path]
        else:
            found = sorted(Path(p) for p in glob.glob(arg, recursive=True) if Path(p).is_file())
        if not found:
            what = "directory" if path.is_dir() else "pattern"
            raise InputError(
                f"checkpoints: the {what} '{arg}' matches no checkpoint file",
                "pass checkpoint files, a folder holding them, or a glob that matches some",
            )
        out += [p for p in found if p not in out]
    return out


def step_of(metadata: dict) -> int | None:
    for key in STEP_KEYS:
        value = metadata.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value)
    return None


def name_number(path: Path) -> int | None:
    numbers = re.findall(r"\d+", path.stem)
    return int(numbers[-1]) if numbers else None


def order(entries: list[Entry]) -> tuple[list[Entry], str]:
    """The entries in step order and how it was decided: "step", "file name number", "file name"."""
    if all(e.step is not None for e in entries):
        return sorted(entries, key=lambda e: (e.step, str(e.path))), "step"
    if any(e.step is not None for e in entries):
        missing = next(e.path for e in entries if e.step is None)
        raise InputError(
            f"checkpoint '{missing}' records no step while others do",
            "save `step` in every checkpoint, or track them separately",
        )
    if all(e.name_number is not None for e in entries):
        return sorted(entries, key=lambda e: (e.name_number, str(e.path))), "file name number"
    return sorted(entries, key=lambda e: str(e.path)), "file name"
