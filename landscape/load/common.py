"""Small helpers the loaders share: one-line error details, a corrupt-file error, lists."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from landscape.errors import InputError


def detail(exc: BaseException) -> str:
    text = str(exc)
    marker = "WeightsUnpickler error:"
    if marker in text:  # the useful part of torch.load's long weights-only message
        text = text.split(marker, 1)[1].strip()
    return text.split("\n")[0].split(". ")[0][:160] or type(exc).__name__


def corrupt(path: Path, exc: BaseException, what: str = "checkpoint") -> InputError:
    """A file that a loader failed on: one line with the loader's reason."""
    text = detail(exc)
    return InputError(
        f"{what} '{path}' could not be read ({type(exc).__name__}: {text}); "
        "it may be corrupt or truncated",
        "save or copy it again",
    )


def decode(value: str) -> Any:
    try:
        return json.loads(value)
    except (ValueError, TypeError, RecursionError):
        return value


def first(items: list[str], n: int = 5) -> str:
    return ", ".join(items[:n]) + (f", ... ({len(items)} in all)" if len(items) > n else "")
