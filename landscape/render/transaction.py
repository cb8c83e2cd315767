"""A run's files, all or nothing.

Every file is first written to a temporary file in its target's folder (synced to disk); then
each existing target is renamed aside (its backup) and the temporary file renamed onto it.
If a write or a rename fails, if printing the report fails, or if SIGINT/SIGTERM arrives, every
target is put back as it was (the backups renamed back, the new files removed), every temporary
file and every folder made for the outputs is removed, and the error says what is true. Once all
is in place the backups are deleted.

The renames and the restoring are not interrupted: a signal arriving then is held until they are
done (the files are then restored) and delivered afterwards to the handler it had before.
"""

from __future__ import annotations

import os
import signal
import stat
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from landscape.errors import InputError

FIX = "check the output paths and the free disk space"


class Signalled(BaseException):
    """SIGINT or SIGTERM arrived while the files were written."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class Signals:
    """Catches SIGINT and SIGTERM (those not ignored) while in use: outside `held` a signal
    raises Signalled, inside it is kept for `check()`. On exit the old handlers come back and
    a caught signal is delivered to them."""

    def __init__(self):
        self.caught: int | None = None
        self.held = False
        self.old: dict[int, object] = {}

    def __enter__(self) -> Signals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                handler = signal.getsignal(signum)
                if handler not in (signal.SIG_IGN, None):
                    self.old[signum] = handler
                    signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.caught is None:
            self.caught = signum
        if not self.held:
            self.held = True  # a second signal is only kept: the undoing is not cut short
            raise Signalled(signum)

    def check(self) -> None:
        if self.caught is not None:
            raise Signalled(self.caught)

    def __exit__(self, *exc) -> None:
        for signum, handler in self.old.items():
            signal.signal(signum, handler)
        if self.caught is not None:
            signal.raise_signal(self.caught)  # SIGINT: KeyboardInterrupt; SIGTERM: the end
            raise KeyboardInterrupt  # a handler that returned: the run still stops here


@dataclass
class Entry:
    path: Path  # where the file goes (symlinks resolved: a link is written through)
    shown: Path  # the path as asked for, for messages
    tmp: Path
    backup: Path | None = None  # the old file, renamed aside


class Transaction:
    def __init__(self):
        self.entries: list[Entry] = []
        self.made: list[Path] = []  # folders made for the outputs, parents first
        self.current: Path | None = None  # the file being written or renamed

    def stage(self, files: dict[Path, bytes], signals: Signals) -> None:
        for shown, data in files.items():
            self.current = shown
            path = Path(os.path.realpath(shown))
            _make_parents(path.parent, self.made)
            self.entries.append(Entry(path, shown, _stage(path, data)))
            signals.check()

    def commit(self) -> None:
        for entry in self.entries:
            self.current = entry.shown
            if os.path.lexists(entry.path):
                entry.backup = _aside(entry.path)
            os.replace(entry.tmp, entry.path)

    def rollback(self) -> list[str]:
        """Put every target back; what could not be, as messages."""
        problems = []
        for entry in reversed(self.entries):
            renamed = not os.path.lexists(entry.tmp)
            try:
                if entry.backup is not None:
                    os.replace(entry.backup, entry.path)
                elif renamed:
                    os.unlink(entry.path)
            except OSError:
                kept = f" (its old content is in '{entry.backup}')" if entry.backup else ""
                problems.append(f"'{entry.shown}'{kept}")
            _remove(entry.tmp)
        for folder in reversed(self.made):
            try:
                folder.rmdir()
            except OSError:
                pass
        return problems

    def finish(self) -> None:
        for entry in self.entries:
            if entry.backup is not None:
                _remove(entry.backup)


def write_all(files: dict[Path, bytes], then: Callable[[], None] | None = None) -> None:
    """Write every file or none; `then` (printing the report) runs once they are all in place,
    and its failure (an OSError: a full disk, a closed pipe) undoes them too."""
    _check_targets(files)
    done = Transaction()
    phase = "write"
    with Signals() as signals:
        try:
            done.stage(files, signals)
            signals.held = True
            done.commit()
            signals.check()
            signals.held, phase = False, "print"
            if then is not None:
                then()
        except BaseException as exc:
            signals.held = True
            problems = done.rollback()
            if isinstance(exc, OSError):
                raise _failure(exc, phase, done, problems) from None
            raise
        signals.held = True  # all is in place: a signal now waits for the backups to go
        done.finish()


def _failure(exc: OSError, phase: str, done: Transaction, problems: list[str]) -> InputError:
    """The error's one line: what failed, and what is true of the files now."""
    current, entries = done.current, done.entries
    why = exc.strerror or str(exc)
    if phase == "print":
        head = f"could not print the report on stdout ({why})"
    else:
        head = f"could not write '{current or exc.filename or 'an output file'}' ({why})"
    if phase == "print" and not entries:  # no file was asked for
        return InputError(head, "check where stdout goes (a full disk, a closed pipe)")
    if problems:
        return InputError(
            f"{head}; these files could not be put back as they were: {', '.join(problems)}",
            FIX,
        )
    return InputError(f"{head}; no file was written (any old file is as it was)", FIX)


def _check_targets(files: dict[Path, bytes]) -> None:
    """No two files in one place, none onto a device, a FIFO, a socket or a folder (the
    options were checked before the work: this is the last guard)."""
    seen: dict[str, Path] = {}
    for path in files:
        real = os.path.realpath(path)
        if os.path.exists(real) and not os.path.isfile(real):
            raise InputError(
                f"'{path}' exists and is not a regular file: it would be replaced",
                "give the output the path of a regular file",
            )
        if real in seen:
            raise InputError(
                f"two outputs name the same file '{path}' (and '{seen[real]}'): one would be lost",
                "give each output its own path",
            )
        seen[real] = path


def _stage(path: Path, data: bytes) -> Path:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _mode(path))  # mkstemp makes 0600; a report is an ordinary file
    except BaseException:
        _remove(Path(tmp))
        raise
    return Path(tmp)


def _mode(path: Path) -> int:
    """The replaced file's permissions, else the umask's for a new file."""
    try:
        info = os.stat(path)
        if stat.S_ISREG(info.st_mode):
            return stat.S_IMODE(info.st_mode)
    except OSError:
        pass
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _aside(path: Path) -> Path:
    """Rename the existing file to a fresh name in its folder (its backup)."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".old")
    os.close(fd)
    try:
        os.replace(path, name)
    except BaseException:
        _remove(Path(name))
        raise
    return Path(name)


def _make_parents(folder: Path, made: list[Path]) -> None:
    """Make the folder and its missing parents, each added to `made` once it exists."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for new in reversed(missing):
        new.mkdir()
        made.append(new)


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
