"""Which process speaks under torchrun: rank 0 prints, the others pass their errors to it."""

from __future__ import annotations

import os


def _env_int(name: str) -> int | None:
    try:
        return int(os.environ.get(name, ""))
    except ValueError:
        return None


def is_main_process() -> bool:
    """False on the ranks other than 0 of a torchrun run (RANK and a WORLD_SIZE above 1, both
    set by torchrun); a RANK without a world of several processes is one process, which
    prints (a WORLD_SIZE that is not a number is refused with a line from this one)."""
    return not under_torchrun() or _env_int("RANK") in (0, None)


def under_torchrun() -> bool:
    return (_env_int("WORLD_SIZE") or 1) > 1


def settle() -> None:
    """Under torchrun, once this rank has its error, torchrun's SIGTERM (sent when another
    rank ends first) no longer interrupts it: its one line is printed whole."""
    if under_torchrun():
        import signal

        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def pass_to_rank0(exc: Exception, line: str, code: int) -> None:
    """Under torchrun a rank other than 0 prints nothing: its own error goes to rank 0, which
    prints it with the rank (a failure it only saw in another rank is not passed on)."""
    from landscape.distributed import ProcessLost, tell_rank0

    if not isinstance(exc, ProcessLost):
        tell_rank0(" ".join(line.split()), code)
