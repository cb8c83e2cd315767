"""Output files: every final path is checked before the work starts (and again just before
the files are written), and a run's files are written all together or not at all
(`render.transaction`).

A target is refused when it is an input of the run (by path and by inode: symlinks and hard
links included), when it exists and is not a regular file (a device, a FIFO, a socket, a
folder), when two outputs name one file, and when its folder cannot take a new file.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from landscape.errors import InputError
from landscape.render.transaction import write_all

FIGURE_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".pdf": "pdf", ".svg": "svg"}
# The figures each command draws: the files its --out folder gets besides report.json (checked
# before the work; `emit` checks the figures a command really drew once more).
FIGURES_OF = {
    "spectrum": ("spectrum",),
    "ggn_gap": ("ggn_gap",),
    "taylor_check": ("taylor",),
    "sharpness": ("spectrum", "slices"),
    "gate": ("gate",),
    "surface": ("surface",),
    "interpolate": ("interpolate",),
    "track": ("track",),
    "params": (),
}
# The options that name an input file of the run, and what the error calls it.
INPUTS = {
    "model": "the checkpoint",
    "model_b": "the second checkpoint",
    "data": "the data",
    "model_factory": "the model factory's file",
    "config": "the config file",
    "gate": "the gate file",
    "baseline": "the baseline report",
    "direction_file": "the direction file",
    "directions": "a direction file",
    "checkpoints": "a checkpoint",
}
BESIDE = ("data", "model_factory")  # a checkpoint's metadata may name these beside it
KINDS = {
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
}


def figure_format(path: Path) -> str:
    """The format a figure file's suffix asks for (checked by check_outputs)."""
    return FIGURE_FORMATS[Path(path).suffix.lower()]


def output_path(value, flag: str) -> Path:
    """An output option's value as a path, `~` expanded (a config's `out = "~/x"` too)."""
    text = os.fspath(value)
    try:
        return Path(text).expanduser()
    except RuntimeError:  # no such user, or no home folder
        raise InputError(
            f"{flag} '{text}': its ~ names no home folder here", f"give {flag} a path without ~"
        ) from None


@dataclass(frozen=True)
class Target:
    """One file an output option will write: `path`, from `flag`'s value `given`."""

    flag: str
    given: Path
    path: Path

    def __str__(self) -> str:
        own = "" if self.path == self.given else f" (its {self.path.name})"
        return f"{self.flag} '{self.given}'{own}"


def planned(
    out: Path | None,
    png: Path | None,
    junit: Path | None,
    stems: Iterable[str],
    csv: Path | None = None,
) -> list[Target]:
    """Every file the output options ask for: --out's report.json and one PNG per figure,
    --png's figure, --junit's XML, --csv's table."""
    targets = []
    if out is not None:
        names = ["report.json", *(f"{stem}.png" for stem in stems)]
        targets += [Target("--out", out, out / name) for name in names]
    if png is not None:
        targets.append(Target("--png", png, png))
    if junit is not None:
        targets.append(Target("--junit", junit, junit))
    if csv is not None:
        targets.append(Target("--csv", csv, csv))
    return targets


def check_outputs(options: Mapping, command: str, config: Path | None = None) -> None:
    """Raise InputError, before any computation, for an output that could not be written or
    whose writing would destroy an input or a special file."""
    paths = {k: options.get(k) for k in ("out", "png", "junit")}
    out, png, junit = (None if v is None else output_path(v, f"--{k}") for k, v in paths.items())
    if out is not None:
        _check_folder(out)
    if png is not None:
        _check_figure_suffix(png)
    csv = output_path(options["csv"], "--csv") if options.get("csv") is not None else None
    targets = planned(out, png, junit, FIGURES_OF.get(command, ()), csv)
    check_targets(targets, input_files({**options, "config": config}))


def check_targets(targets: list[Target], inputs: list[tuple[str, Path]]) -> None:
    """Each target: a regular file or none yet, in a folder that takes a new file, no input of
    the run, no other target's file, not the file stdout appends to."""
    for target in targets:
        _check_target(target)
        for label, source in inputs:
            if same_file(target.path, source):
                raise InputError(
                    f"{target} is {label} '{source}': writing it would destroy an input",
                    f"give {target.flag} another path",
                )
    for i, a in enumerate(targets):
        for b in targets[i + 1 :]:
            if same_file(a.path, b.path):
                raise InputError(
                    f"{a} and {b} name the same file '{b.path}': one would be lost",
                    "give each output its own path",
                )
    _check_stdout(targets, inputs)


def input_files(options: Mapping) -> list[tuple[str, Path]]:
    """The existing files the options name as inputs (a `file.py:fn` spec's file, each file of
    a comma list), looked for where the user is and, for the data and the factory, beside the
    checkpoint too (where its metadata names them)."""
    model = options.get("model")
    beside = _parent(model) if model is not None else None
    try:
        here = Path.cwd()
    except OSError:  # the working folder was removed: relative names resolve nowhere
        here = None
    found = []
    for key, label in INPUTS.items():
        value = options.get(key)
        values = value if isinstance(value, list) else [value]
        for candidate in (c for v in values if _named(v) for c in _candidates(os.fspath(v))):
            for base in (here, beside) if key in BESIDE else (here,):
                path = _existing(candidate, base)
                if path is not None and all(p != path for _, p in found):
                    found.append((label, path))
    return found


def _named(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, str | os.PathLike)


def same_file(a: Path, b: Path) -> bool:
    """The same path once resolved, or the same file (inode) under two names."""
    try:
        if os.path.realpath(a) == os.path.realpath(b):
            return True
        return os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def _candidates(spec: str) -> list[str]:
    parts = [spec, *spec.split(",")]
    return list(dict.fromkeys(p.strip() for q in parts for p in (q, q.rsplit(":", 1)[0]) if p))


def _existing(candidate: str, base: Path | None) -> Path | None:
    try:
        path = Path(candidate).expanduser()
        if not path.is_absolute():
            if base is None:
                return None
            path = base / path
        return path if path.exists() else None
    except (OSError, ValueError, RuntimeError):
        return None


def _parent(model) -> Path | None:
    try:
        return Path(os.fspath(model)).expanduser().resolve().parent
    except (OSError, ValueError, RuntimeError, TypeError):
        return None


def _check_folder(out: Path) -> None:
    kind = _kind(out, f"--out '{out}'", "--out")
    if kind == "a file":
        raise InputError(
            f"--out '{out}' is a file, not a folder", "give a folder for report.json and figures"
        )
    if kind not in (None, "a folder"):
        raise InputError(f"--out '{out}' is {kind}, not a folder", "give --out a folder")


def _check_figure_suffix(png: Path) -> None:
    if png.suffix.lower() not in FIGURE_FORMATS and not png.is_dir():
        raise InputError(
            f"--png '{png}': the figure's format comes from the suffix, and "
            f"'{png.suffix or '(none)'}' is not one of .png, .jpg, .pdf, .svg",
            f"use e.g. --png {png.with_suffix('.png').name}",
        )


def _check_target(target: Target) -> None:
    kind = _kind(target.path, str(target), target.flag)
    if kind == "a folder":
        raise InputError(f"{target} is a folder", f"give {target.flag} a file name")
    if kind not in (None, "a file"):
        raise InputError(
            f"{target} is {kind}, not a regular file: it would be replaced",
            f"give {target.flag} the path of a regular file",
        )
    _check_writable(Path(os.path.realpath(target.path)).parent, target)


def _kind(path: Path, what: str, flag: str) -> str | None:
    """What is at the path (following symlinks): None, "a file", "a folder", a device...."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):  # an ancestor that is a file: see below
        return None
    except (OSError, ValueError) as exc:
        why = getattr(exc, "strerror", None) or exc
        raise InputError(f"{what} cannot be used ({why})", f"give {flag} another path") from None
    return "a file" if stat.S_ISREG(mode) else KINDS.get(stat.S_IFMT(mode), "not a regular file")


def _check_writable(folder: Path, target: Target) -> None:
    """The folder (or its nearest existing ancestor, where it would be made) takes a new file."""
    flag, existing = target.flag, folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(
            f"{target} cannot be made: '{existing}' is a file", f"give {flag} another path"
        )
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".landscape-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(
            f"{target} is not writable ({exc.strerror or exc})",
            f"give {flag} a path you can write to",
        ) from None


def _check_stdout(targets: list[Target], inputs: list[tuple[str, Path]]) -> None:
    """Stdout redirected to a regular file (`>> model.pt`) must not be an input or a target."""
    try:
        info = os.fstat(1)
    except OSError:
        return
    if not stat.S_ISREG(info.st_mode):
        return

    def is_stdout(path: Path) -> bool:
        try:
            other = os.stat(path)
        except (OSError, ValueError):
            return False
        return (other.st_dev, other.st_ino) == (info.st_dev, info.st_ino)

    for label, source in inputs:
        if is_stdout(source):
            raise InputError(
                f"stdout is redirected to {label} '{source}': the report would destroy it",
                "redirect the output to another file",
            )
    for target in targets:
        if is_stdout(target.path):
            raise InputError(
                f"stdout is redirected to the file {target} writes: one would be lost",
                "redirect the output to another file",
            )


def write_files(files: dict[Path, bytes]) -> None:
    """Write every file or none (see `render.transaction`)."""
    write_all(files)
