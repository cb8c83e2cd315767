"""The typer application, its error handling and the one way every command writes output."""

from __future__ import annotations

import difflib
import errno
import os
import re
import sys

import typer
from typer.core import TyperGroup

from landscape.cli.options import COMMANDS, TABLE
from landscape.cli.output import INTERNAL_ERROR, error_line, silence_stdout
from landscape.cli.ranks import is_main_process, pass_to_rank0, settle
from landscape.errors import InputError, LandscapeError


class InOrder(TyperGroup):
    """`landscape --help` lists the commands in the option table's order (the README's)."""

    def list_commands(self, ctx) -> list[str]:
        order = [c.replace("_", "-") for c in COMMANDS]
        return sorted(self.commands, key=lambda c: order.index(c) if c in order else len(order))


app = typer.Typer(
    cls=InOrder,
    name="landscape",
    help="Certified loss-landscape analysis for PyTorch models: Hessian/GGN/Fisher spectra, "
    "GGN gap, Taylor checks, sharpness and CI gates.",
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


EXIT_USAGE = 2


INTERRUPTED = 130


def main() -> None:
    """Console entry point: one line and an exit code for every expected failure."""
    argv = sys.argv[1:]
    if "--verbose" not in argv and not os.environ.get("LANDSCAPE_DEBUG"):
        quiet_libraries()
    try:
        code = app(args=argv, prog_name="landscape", standalone_mode=False)
    except LandscapeError as exc:
        settle()
        if is_main_process():
            error_line(exc.line())
        else:
            pass_to_rank0(exc, exc.line(), exc.exit_code)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        interrupted()
    except Exception as exc:  # usage errors (click's, vendored by typer) and anything unexpected
        settle()
        names = {cls.__name__ for cls in type(exc).__mro__}
        if "Abort" in names:
            interrupted()
        if "ClickException" in names:
            error_line(usage_line(exc))
            sys.exit(EXIT_USAGE if "UsageError" in names else getattr(exc, "exit_code", 1))
        known = known_failure(exc, names)
        if known is not None and not os.environ.get("LANDSCAPE_DEBUG"):
            if is_main_process():
                error_line(known.line())
            else:
                pass_to_rank0(known, known.line(), known.exit_code)
            sys.exit(known.exit_code)
        if os.environ.get("LANDSCAPE_DEBUG"):
            raise
        line = (
            f"internal error: {type(exc).__name__}: {exc} (set LANDSCAPE_DEBUG=1 for the traceback)"
        )
        if is_main_process():
            error_line(line)
        else:
            pass_to_rank0(exc, line, INTERNAL_ERROR)
        sys.exit(INTERNAL_ERROR)
    if code == INTERRUPTED:  # typer turns Ctrl-C into this code, silently
        interrupted()
    if isinstance(code, int) and code:
        sys.exit(code)


def interrupted() -> None:
    """Ctrl-C: one line, exit 130."""
    settle()
    error_line("interrupted")
    sys.exit(INTERRUPTED)


WRITE_ERRORS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large",
    errno.EPIPE: "the reader of the output closed it (broken pipe)",
}


MEMORY_WORDS = ("out of memory", "can't allocate memory", "not enough memory")


def known_failure(exc: Exception, names: set[str]) -> LandscapeError | None:
    """Failures that are not bugs though no check raised them as the user's: the output
    could not be written (a full disk, a closed pipe), the memory ran out, an input nested
    deeper than Python recurses. None for anything else (an internal error)."""
    if isinstance(exc, OSError) and exc.errno in WRITE_ERRORS:
        silence_stdout()
        where = f"'{exc.filename}'" if exc.filename else "the output (standard output)"
        return InputError(
            f"writing {where} failed: {WRITE_ERRORS[exc.errno]}",
            "free some space, or write the output elsewhere",
        )
    if {"MemoryError", "OutOfMemoryError"} & names or (
        isinstance(exc, RuntimeError) and any(w in str(exc) for w in MEMORY_WORDS)
    ):
        first = " ".join(str(exc).split())[:200]
        return InputError(
            f"the run needs more memory than is free ({type(exc).__name__}: {first})",
            "ask for less: fewer examples or smaller batches (--samples, --batch-size), "
            "fewer points, products or eigenvalues",
        )
    if isinstance(exc, RecursionError):
        return InputError(
            "an input is nested too deeply to read (Python's recursion limit was reached)",
            "flatten the nesting of the files and values given",
        )
    return None


def quiet_libraries() -> None:
    """Silence library logging and warnings (torch's loaders log pages); --verbose keeps them."""
    import logging
    import warnings

    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")


def usage_line(exc: Exception) -> str:
    """A usage error as one line: what was wrong, the closest real name, where help is."""
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "landscape"
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    name = getattr(exc, "option_name", None)
    if type(exc).__name__ == "NoSuchOption" and name:
        options = {opt.lstrip("-"): opt for opt in _option_names(ctx)}
        close = difflib.get_close_matches(name.lstrip("-"), list(options), n=1, cutoff=0.6)
        hint = f"did you mean {options[close[0]]}? " if close else ""
        return f"no such option {name} for `{command}`; {hint}see `{command} --help`"
    choice = _choice_line(exc, message)
    if choice:
        return choice
    if message.startswith("No such command"):
        commands = ctx.command.list_commands(ctx) if ctx is not None else []
        wrong = message.split("'")[1] if "'" in message else ""
        close = difflib.get_close_matches(wrong, commands, n=1, cutoff=0.5)
        hint = f"did you mean `landscape {close[0]}`? " if close else ""
        return f"no such command '{wrong}'; {hint}commands: {', '.join(commands)}"
    return f"{message.rstrip('.')}; see `{command} --help`"


def _choice_line(exc: Exception, message: str) -> str:
    """`unknown curvature 'hesian' for --curvature; did you mean hessian? use one of: …`."""
    found = re.search(r"'([^']*)' is not one of ((?:'[^']*'(?:, )?)+)", message)
    if found is None:
        return ""
    wrong, choices = found.group(1), re.findall(r"'([^']*)'", found.group(2))
    flag = max(getattr(getattr(exc, "param", None), "opts", None) or [""], key=len)
    noun = next((o.noun for o in TABLE if o.flag == flag and o.noun), flag)
    close = difflib.get_close_matches(wrong, choices, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"unknown {noun} '{wrong}' for {flag}; {hint}use one of: {', '.join(choices)}"


def _option_names(ctx) -> list[str]:
    if ctx is None:
        return []
    return [opt for param in ctx.command.params for opt in getattr(param, "opts", [])]
