"""Files and values nested too deeply to read (no torch here: the config reader uses it)."""

from __future__ import annotations

from collections.abc import Callable

from landscape.errors import InputError


def parsed(parse: Callable, source, what: str):
    """`parse(source)` with a RecursionError (a file or value nested thousands deep) as
    the user's error naming `what`."""
    try:
        return parse(source)
    except RecursionError:
        raise InputError(
            f"{what} is nested too deeply to read", "flatten it (a few levels of tables suffice)"
        ) from None
