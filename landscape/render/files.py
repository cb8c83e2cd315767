"""Output files: every path is checked before the work starts, and a run's files are written
all together or not at all (each through a temporary file and a rename)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from landscape.errors import InputError

FIGURE_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".pdf": "pdf", ".svg": "svg"}


def figure_format(path: Path) -> str:
    """The format a figure file's suffix asks for (checked by check_outputs)."""
    return FIGURE_FORMATS[Path(path).suffix.lower()]


def check_outputs(out: Path | None, png: Path | None, junit: Path | None) -> None:
    """Raise InputError, before any computation, for an output that could not be written."""
    if out is not None:
        out = Path(out).expanduser()
        if out.exists() and not out.is_dir():
            raise InputError(
                f"--out '{out}' is a file, not a folder",
                "give a folder for report.json and figures",
            )
        _check_writable(out, "--out")
    if png is not None:
        png = Path(png).expanduser()
        if png.is_dir():
            raise InputError(f"--png '{png}' is a folder", "give --png a file name")
        if png.suffix.lower() not in FIGURE_FORMATS:
            raise InputError(
                f"--png '{png}': the figure's format comes from the suffix, and "
                f"'{png.suffix or '(none)'}' is not one of .png, .jpg, .pdf, .svg",
                f"use e.g. --png {png.with_suffix('.png').name}",
            )
        _check_file_target(png, "--png")
    if junit is not None:
        _check_file_target(Path(junit).expanduser(), "--junit")


def _check_file_target(path: Path, flag: str) -> None:
    if path.is_dir():
        raise InputError(f"{flag} '{path}' is a folder", f"give {flag} a file name")
    _check_writable(path.parent, flag)


def _check_writable(folder: Path, flag: str) -> None:
    """The folder (or its nearest existing ancestor, where it would be made) takes a new file."""
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(
            f"{flag} '{folder}' cannot be made: '{existing}' is a file", f"give {flag} another path"
        )
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".landscape-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(
            f"{flag} '{folder}' is not writable ({exc.strerror or exc})",
            f"give {flag} a path you can write to",
        ) from None


def write_files(files: dict[Path, bytes]) -> None:
    """Write every file or none: all go to temporary files first, then all are renamed."""
    made: list[Path] = []
    staged: list[tuple[str, Path]] = []
    try:
        for path, data in files.items():
            made += _make_parents(path.parent)
            staged.append((_stage(path, data), path))
        for tmp, path in staged:
            os.replace(tmp, path)
    except OSError as exc:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        for folder in reversed(made):
            _remove_empty(folder)
        raise InputError(
            f"could not write '{exc.filename or 'an output file'}' ({exc.strerror or exc}); "
            "no file was written",
            "check the output paths and the free disk space",
        ) from None


def _stage(path: Path, data: bytes) -> str:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a report is an ordinary file
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def _make_parents(folder: Path) -> list[Path]:
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for new in reversed(missing):
        new.mkdir()
    return list(reversed(missing))


def _remove_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
