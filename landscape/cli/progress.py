"""Progress on stderr for long work: a bar on a terminal, a plain line every few seconds off
one, and an estimate of the time left."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from landscape.cli.output import err, log
from landscape.cli.ranks import is_main_process

EVERY = 10.0  # seconds between the plain progress lines off a terminal


LONG = 60.0  # a run estimated longer than this gets one line saying so, with what shortens it


WARMUP = 3.0  # seconds of work before the estimate is trusted


POLL = 0.5  # seconds between reads of a `count` (the operator's product counter)


CLOCK = time.monotonic


class Heartbeat:
    """Progress as plain lines (off a terminal), and the one warning before a long run.

    `update(done)` takes the work done so far; every EVERY seconds it writes
    `spectrum: 120/400 products, 12 s, about 30 s left` (`at most` when the total is a
    budget the work may stop short of). Once WARMUP seconds of work give a rate, a total
    estimated above LONG seconds is said once, with --samples/--batch-size. The clock and the
    writer are arguments, so tests drive it with a fake clock."""

    def __init__(
        self, description, total=None, unit="products", *, bound=False, lines=True,
        clock=None, write=None,
    ):  # fmt: skip
        self.description, self.total, self.unit, self.bound = description, total, unit, bound
        self.lines, self.clock, self.write = lines, clock or CLOCK, write or log
        self.start = self.last = self.clock()
        self.warned = False
        self.stage: str | None = None  # the part of the work under way, when it has parts

    def update(self, done: int) -> None:
        now = self.clock()
        elapsed = now - self.start
        if not self.warned and self.total and done > 0 and elapsed >= WARMUP:
            self.warned = True
            estimate = elapsed / done * self.total
            if estimate > LONG:
                self.write(self.warning(estimate))
        if self.lines and now - self.last >= EVERY:
            self.last = now
            self.write(self.line(done, elapsed))

    def line(self, done: int, elapsed: float) -> str:
        stage = f" ({self.stage})" if self.stage else ""
        head = f"{self.description}{stage}: {done}"
        if not self.total:
            return f"{head}{' ' + self.unit if self.unit else ''}, {elapsed:.0f} s"
        text = f"{head}/{self.total} {self.unit}, {elapsed:.0f} s"
        if 0 < done < self.total:
            left = elapsed / done * (self.total - done)
            text += f", {'at most' if self.bound else 'about'} {duration(left)} left"
        return text

    def warning(self, estimate: float) -> str:
        per = estimate / self.total
        return (
            f"{self.description}: this run will take {'up to' if self.bound else 'about'} "
            f"{duration(estimate)} ({self.total} {self.unit} at {per:.2g} s each); "
            f"--samples N (fewer examples) makes each of the {self.unit} cheaper, --batch-size N "
            "bounds the memory"
        )


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@contextmanager
def progress(
    description: str, total: int | None = None, count=None, bound: bool = False, unit="products"
):
    """Progress on stderr while the body runs: a bar with the total and an ETA on a terminal,
    a plain line every EVERY seconds off one (a CI log), and one line first when the run will
    take long. Yields a callback taking the work done so far; `count` (e.g. the operator's
    product counter) is read every POLL seconds as well; the callback's optional second argument
    names the stage under way (shown with the description). `bound`: the total is a budget."""
    shown = is_main_process()
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}" + ("/{task.total}" if total else "") + f" {unit}".rstrip()),
        TimeElapsedColumn(),
        *([TimeRemainingColumn()] if total else []),
        console=err,
        transient=True,
        disable=not err.is_terminal or not shown,
    )
    meter = Heartbeat(description, total, unit, bound=bound, lines=shown and not err.is_terminal)
    meter.write = log if shown else (lambda _text: None)
    with bar:
        task = bar.add_task(description, total=total)
        lock = threading.Lock()

        def tick(done: int, stage: str | None = None) -> None:
            with lock:
                if stage is not None and stage != meter.stage:
                    meter.stage = stage
                    bar.update(task, description=f"{description} ({stage})")
                bar.update(task, completed=done)
                meter.update(done)

        stop = threading.Event()
        watcher = threading.Thread(target=_watch, args=(stop, count, tick), daemon=True)
        if count is not None:
            watcher.start()
        try:
            yield tick
        finally:
            stop.set()
            if count is not None:
                watcher.join()


def _watch(stop: threading.Event, count, tick) -> None:
    while not stop.wait(POLL):
        tick(count())
