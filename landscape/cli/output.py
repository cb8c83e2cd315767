"""What a person sees: one escaped line per error or note on stderr, the view or --json on
stdout, and a run's files written all or nothing (`emit`)."""

from __future__ import annotations

import errno
import os
import re
import sys

from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement

from landscape.cli.ranks import is_main_process, under_torchrun
from landscape.errors import LandscapeError
from landscape.render.files import check_targets, input_files
from landscape.render.json import dumps
from landscape.render.transaction import write_all
from landscape.render.writers import Rendered, Targets, files_for

INTERNAL_ERROR = 70  # the exit code of a failure that is ours, not the input's
err = Console(stderr=True, highlight=False)


# What must not reach a terminal raw from a name in a file: C0 controls other than tab and
# newline (ESC starts the sequences that move the cursor, clear or retitle), DEL, C1 controls
# (U+009B is a one-byte CSI), line separators and the bidirectional overrides and isolates.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` with every control character written as an escape (`\\x1b`, `\\u202e`)."""
    return CONTROL.sub(lambda m: ascii(m.group())[1:-1], str(text))


class Printable:
    """A rich renderable printed with the control characters of its text escaped (names from
    files reach the tables); the renderer's own styles and line breaks are kept."""

    def __init__(self, inner):
        self.inner = inner

    def __rich_console__(self, console, options):
        from rich.segment import Segment

        for seg in console.render(self.inner, options):
            yield seg if seg.control else Segment(printable(seg.text), seg.style)

    def __rich_measure__(self, console, options):
        return Measurement.get(console, options, self.inner)


def error_line(text: str) -> None:
    """The one line a failure prints on stderr (control characters escaped, newlines folded,
    markup printed verbatim)."""
    line = " ".join(printable(text).split())
    if line.startswith("internal error:"):
        err.print(line, markup=False, soft_wrap=True)
    else:
        err.print(f"[bold red]error:[/] {escape(line)}", markup=True, soft_wrap=True)


def terminal_view(view) -> None:
    """Print a view on stdout. Off a terminal (a CI log, `> file`, `| less`) the width is the
    view's own, so no number is cut or wrapped; on a terminal, the terminal's."""
    console = Stdout(highlight=False)
    if not console.is_terminal:
        need = Measurement.get(console, console.options.update_width(10_000), view).maximum
        console = Stdout(highlight=False, width=max(console.width, need))
    say_notes()
    console.print(Printable(view))


class Stdout(Console):
    """A console whose closed pipe is an OSError like any other (rich's own exits 1 silently):
    `emit` turns it into one line and puts the files back."""

    def on_broken_pipe(self) -> None:

        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


def log(message: str) -> None:
    if is_main_process():
        err.print(printable(message), markup=False, soft_wrap=True)


NOTES: list[str] = []  # lines said with the answer: what a run took from a file


def note(message: str) -> None:
    """A stderr line said when the run has its answer (just before the report), so that a run
    that fails prints its one error line alone."""
    NOTES.append(message)


def say_notes() -> None:
    while NOTES:
        log(NOTES.pop(0))


def written() -> None:
    """Under torchrun, every rank waits here until rank 0 has written its output, so that no
    rank ends (a gate's exit 1) and has torchrun stop rank 0 while it writes; then the
    process group closes (nothing after the output is reduced)."""
    say_notes()  # after a JSON report (a terminal view said them before itself)
    if under_torchrun():
        from landscape.distributed import finish

        finish()


class FigureFailed(LandscapeError):
    """A figure could not be drawn; the report and every other file were still written."""

    exit_code = INTERNAL_ERROR


def emit(rendered: Rendered, opt: dict) -> None:
    """The one output sink: every requested file and the JSON or the terminal view, all or
    none (a failure, or Ctrl-C, while they are written puts every old file back).

    The targets are checked again first (an input, a special file or another output there is
    refused), with the figures this report really has. A figure that fails to draw is left out
    and reported once the rest is written.
    """
    if not is_main_process():
        written()  # under torchrun, rank 0 alone prints and writes; the others wait for it
        return
    targets = Targets.from_options(opt)
    check_targets(targets.files(rendered), input_files(opt))
    files, failed = files_for(rendered, targets)
    write_all(files, then=lambda: show(rendered, bool(opt.get("json"))))
    if not opt.get("json"):
        for path in files:
            log(f"wrote {path}")
    written()
    if failed:
        stem, why = next(iter(failed.items()))
        raise FigureFailed(
            f"the {stem} figure could not be drawn ({why}); the report was written without it",
            "please report this as a bug",
        )


def show(rendered: Rendered, as_json: bool) -> None:
    """The report on stdout. If stdout cannot take it (a full disk, a closed pipe), stdout is
    pointed at the null device, so that the interpreter's last flush does not fail again, and
    the OSError goes on to the caller."""
    try:
        if as_json:
            sys.stdout.write(dumps(rendered.report) + "\n")
            sys.stdout.flush()
        else:
            terminal_view(rendered.view(rendered.report))
            sys.stdout.flush()
    except OSError:
        silence_stdout()
        raise


def silence_stdout() -> None:
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError):  # no file descriptor (a test's capture)
        pass
