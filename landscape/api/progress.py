"""The calls' `progress=` hook: how a caller (the command line's bar, a notebook's tqdm) hears
of long work. A hook is a function

    hook(description, total=None, *, count=None, bound=False, unit="products")

returning a context manager that the call holds open while that part of the work runs; what
it yields is a callback `tick(done, stage=None)` the call reports the work done to (and the
stage under way, when the work has stages). `count`, when given, is a function of no
arguments that reads the work done so far (the operator's product counter) and that the hook
may poll; `bound` says that `total` is a budget the work may stop short of. None: no
progress (`quiet`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

Tick = Callable[..., None]
Hook = Callable[..., AbstractContextManager[Tick]]


@contextmanager
def quiet(description: str, total: int | None = None, **_: object) -> Iterator[Tick]:
    """The hook that reports nothing (a call's default)."""
    yield lambda done, stage=None: None


def hook_of(progress: Hook | None) -> Hook:
    """`progress`, or `quiet` for None; anything else is refused by the caller's first use."""
    return quiet if progress is None else progress


def staged(tick: Tick) -> Callable[[str, int], None]:
    """The analyses' `progress(stage, n)` callback from a hook's `tick(done, stage)`."""
    return lambda stage, n: tick(n, stage)
