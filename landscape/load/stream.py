"""Data read batch by batch on every pass over it, never held whole.

A Dataset or DataLoader from a data factory becomes a `Stream`: a re-iterable source of
(x, y) batches in a fixed order, read anew on every pass (every loss, gradient and curvature
product is one pass), cast to the problem's dtype and device as they come. Two kinds:

- `IndexedStream`: a map-style Dataset (``__len__``, ``__getitem__``) read by index through a
  DataLoader over ``Subset(dataset, indices)``: a seeded subset (``--samples``) or a process's
  shard reads only its own examples.
- `SequentialStream`: an iterable-style Dataset or DataLoader (or a loader with a sampler of
  its own) read from the start on every pass; a subset or shard is a window of positions.

A raw batch becomes tensors through `convert` (given by `load.datasets`: the conversion and
checks a file's data goes through, NaN and inf on the first whole pass only), so a streamed and
a held data set hold the same numbers.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset

from landscape.checks import check_unsized, error_text
from landscape.errors import InputError, LandscapeError
from landscape.inputs import Inputs, cast, num_examples, take

STREAM_BATCH = 256  # examples per batch of a streamed Dataset without a batch size

Convert = Callable[[Any, bool], tuple[Inputs, Tensor]]  # (raw batch, check for NaN/inf)


class Stream:
    """(x, y) batches in a fixed order, read anew on every iteration; `len` counts batches."""

    def __init__(self, origin: str, convert: Convert):
        self.origin = origin
        self.convert = convert  # a raw batch -> validated (x, y) on the CPU
        self.checked = False  # a whole pass was checked for NaN and inf: later ones are not
        self.note: str | None = None  # how the source is read, when not as given (for stderr)
        self.dtype: torch.dtype | None = None
        self.device: torch.device | None = None
        self._first: tuple[Inputs, Tensor] | None = None
        self._held: list[tuple[Inputs, Tensor]] | None = None

    # -- what each kind says ------------------------------------------------------------------
    @property
    def num_examples(self) -> int:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def _read(self) -> Iterator[tuple[Inputs, Tensor]]:
        """One pass: the converted batches, not yet cast."""
        raise NotImplementedError

    def select(self, rows: slice) -> Stream:
        """The examples at positions `rows` (start and stop given; an `IndexedStream` also
        takes an index tensor) of this stream."""
        raise NotImplementedError

    def batched(self, size: int | None) -> Stream:
        """The same examples in batches of `size` (None: the source's own)."""
        raise NotImplementedError

    # -- common -------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[tuple[Inputs, Tensor]]:
        for x, y in self._reading():
            if self.dtype is None:
                yield x, y
            else:
                yield cast(x, self.dtype, self.device), cast(y, self.dtype, self.device)
        self.checked = True

    def first(self) -> tuple[Inputs, Tensor]:
        """The first batch (read once and kept: for shape probes and memory estimates)."""
        if self._first is None:
            self._first = next(iter(self))
        return self._first

    def held(self) -> list[tuple[Inputs, Tensor]]:
        """Every batch in a list, read once and kept (for routes that keep graphs anyway)."""
        if self._held is None:
            self._held = list(self)
        return self._held

    def cast_to(self, dtype: torch.dtype, device: torch.device) -> Stream:
        out = self._copy()
        out.dtype, out.device = dtype, torch.device(device)
        return out

    def _copy(self) -> Stream:
        out = copy.copy(self)
        out._first, out._held, out.checked = None, None, False
        return out

    def _reading(self) -> Iterator[tuple[Inputs, Tensor]]:
        """`_read` with the user's errors (in the Dataset, the collate function) as one line."""
        try:
            yield from self._read()
        except LandscapeError:
            raise
        except Exception as exc:
            raise InputError(
                f"reading the data from {self.origin} failed: {error_text(exc)}",
                "fix the Dataset or DataLoader (it is read again on every pass)",
            ) from exc


class IndexedStream(Stream):
    """A map-style Dataset read by index, `indices` (in data order) in batches of `size`."""

    def __init__(
        self,
        dataset: Dataset,
        indices: Tensor,
        size: int,
        make_loader: Callable[[Dataset, int], DataLoader],
        origin: str,
        convert: Convert,
    ):
        super().__init__(origin, convert)
        self.dataset, self.indices, self.size = dataset, indices, size
        self.make_loader = make_loader
        self._loader: DataLoader | None = None

    @property
    def num_examples(self) -> int:
        return len(self.indices)

    def __len__(self) -> int:
        return math.ceil(len(self.indices) / self.size)

    def _read(self) -> Iterator[tuple[Inputs, Tensor]]:
        if self._loader is None:
            subset = Subset(self.dataset, self.indices.tolist())
            self._loader = self.make_loader(subset, self.size)
        for raw in self._loader:
            yield self.convert(raw, not self.checked)

    def select(self, rows: slice) -> Stream:
        out = self._copy()
        out.indices, out._loader = self.indices[rows], None
        return out

    def batched(self, size: int | None) -> Stream:
        out = self._copy()
        out.size, out._loader = size or self.size, None
        return out


class SequentialStream(Stream):
    """An iterable read from the start on every pass; the examples at positions `window`.

    With `collate`, `open()` yields single examples, grouped here into batches of `size` and
    put together by `collate`; otherwise it yields whole batches (a DataLoader's own)."""

    def __init__(
        self,
        open: Callable[[], Iterable],
        origin: str,
        convert: Convert,
        collate: Callable[[list], Any] | None = None,
        size: int | None = None,
    ):
        super().__init__(origin, convert)
        self.open, self.collate, self.size = open, collate, size
        self.start, self.stop = 0, None  # the window of positions, stop None: to the end
        self._counts: tuple[int, int] | None = None  # (examples, batches) in the window

    @property
    def num_examples(self) -> int:
        return self._count()[0]

    def __len__(self) -> int:
        return self._count()[1]

    def _count(self) -> tuple[int, int]:
        if self._counts is None:
            examples = batches = 0
            for _, y in self._reading():
                examples, batches = examples + len(y), batches + 1
                check_unsized(examples, self.origin, self.stop)
            self._counts = (examples, batches)
        return self._counts

    def _raw(self) -> Iterator:
        if self.collate is None:
            yield from self.open()
            return
        group = []
        for item in self.open():
            group.append(item)
            if len(group) == (self.size or STREAM_BATCH):
                yield self.collate(group)
                group = []
        if group:
            yield self.collate(group)

    def _read(self) -> Iterator[tuple[Inputs, Tensor]]:
        position = 0
        for raw in self._raw():
            if self.stop is not None and position >= self.stop:
                return
            x, y = self.convert(raw, not self.checked)
            n = num_examples(x)
            lo = max(self.start - position, 0)
            hi = n if self.stop is None else min(self.stop - position, n)
            position += n
            if lo >= hi:
                continue
            yield (x, y) if (lo, hi) == (0, n) else (take(x, slice(lo, hi)), y[lo:hi])

    def select(self, rows: slice) -> Stream:
        out = self._copy()
        out.start = self.start + rows.start
        stop = self.start + rows.stop
        out.stop = stop if self.stop is None else min(stop, self.stop)
        return out

    def batched(self, size: int | None) -> Stream:
        if size is None or size == self.size:
            return self
        if self.collate is None:
            raise InputError(
                f"the DataLoader from {self.origin} makes its own batches (an iterable-style "
                f"dataset, or a sampler of its own), so a batch size ({size}) cannot be applied",
                "leave out `batch_size` (set the batch size in the DataLoader), or return "
                "the Dataset itself",
                "batch_size",
            )
        out = self._copy()
        out.size = size
        return out

    def _copy(self) -> SequentialStream:
        out = super()._copy()
        out._counts = None  # type: ignore[attr-defined]
        return out  # type: ignore[return-value]
