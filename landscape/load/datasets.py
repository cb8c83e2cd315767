"""What a Dataset or DataLoader from a data factory becomes: a `Stream` read per pass."""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    DistributedSampler,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

from landscape.errors import InputError, NumericalError
from landscape.inputs import Inputs
from landscape.load.convert import (
    at_least_1d,
    inputs,
    pair,
    sample_index,
    stack,
    tensor,
    validate,
)
from landscape.load.stream import STREAM_BATCH, IndexedStream, SequentialStream, Stream


def stream_of(obj: Any, origin: str, target: str | None) -> Stream | None:
    """The stream of a DataLoader or a Dataset (not a TensorDataset: that is in memory)."""
    if isinstance(obj, DataLoader):
        return _loader_stream(obj, origin, target)
    if isinstance(obj, Dataset | IterableDataset):
        return _dataset_stream(obj, origin, target)
    return None


class _Items:
    """A list of Dataset items -> stacked (x, y)."""

    def __init__(self, origin: str, target: str | None):
        self.origin, self.target = origin, target

    def __call__(self, items: list) -> tuple[Inputs, Tensor]:
        pairs = [pair(item, self.origin, "yields an item of type", self.target) for item in items]
        return self._column([p[0] for p in pairs], "x"), self._column([p[1] for p in pairs], "y")

    def _column(self, values: list, name: str) -> Inputs:
        """The items' x (or y) stacked: tensors or plain numbers of one type at once (what
        converting each first gives), anything else (arrays, dicts) converted one by one."""
        kind = type(values[0])
        if kind in (int, float, bool) and all(type(v) is kind for v in values):
            return torch.tensor(values)
        if not all(isinstance(v, Tensor) for v in values):
            convert = inputs if name == "x" else functools.partial(tensor, name=name)
            values = [convert(v, self.origin) for v in values]
        return stack(values, self.origin, name, torch.stack)


class _Batch:
    """A DataLoader's batch (or stacked items with `collated`) -> validated (x, y)."""

    def __init__(self, origin: str, target: str | None, collated: bool = False):
        self.origin, self.target, self.collated = origin, target, collated

    def __call__(self, batch: Any, finite: bool = True) -> tuple[Inputs, Tensor]:
        if self.collated:
            x, y = batch
        else:
            x, y = pair(batch, self.origin, "yields a batch of type", self.target)
            x, y = at_least_1d(inputs(x, self.origin)), at_least_1d(tensor(y, self.origin, "y"))
        return validate(x, y, self.origin, finite)


def _dataset_stream(ds: Dataset, origin: str, target: str | None) -> Stream:
    items, convert = _Items(origin, target), _Batch(origin, target, collated=True)
    if isinstance(ds, IterableDataset) or not hasattr(ds, "__len__"):
        return SequentialStream(lambda: iter(ds), origin, convert, collate=items)
    n = _length(ds, origin, "Dataset")

    def loader(subset: Dataset, size: int) -> DataLoader:
        return DataLoader(subset, batch_size=size, shuffle=False, collate_fn=items)

    return IndexedStream(ds, torch.arange(n), STREAM_BATCH, loader, origin, convert)


def _loader_stream(loader: DataLoader, origin: str, target: str | None) -> Stream:
    """A DataLoader over a map-style Dataset in its order is read by index (re-batched with
    its collate_fn and workers); one that shuffles is read the same way in the dataset's own
    order (a mean over the whole set does not depend on it: a note says so); any other
    (iterable-style, or a sampler of its own) is iterated as it is, from the start, on every
    pass. One that draws a random sample (with replacement, weighted, a random shard) is
    refused: each pass would see other examples."""
    ds, convert = loader.dataset, _Batch(origin, target)
    order, why = _fixed_order(loader, origin)
    if why:
        raise NumericalError(
            f"the DataLoader from {origin} {why}, so every pass over the data would see other "
            "examples and the curvature would change from product to product",
            "build it with shuffle=False or a sampler that reads every example once (a "
            "shuffled order is fine), and no random transforms",
        )
    in_order = (
        not isinstance(ds, IterableDataset)
        and hasattr(ds, "__len__")
        and loader.batch_size is not None
        and isinstance(loader.sampler, SequentialSampler)
    )
    if order is None and not in_order:
        return SequentialStream(lambda: loader, origin, convert)
    size = loader.batch_size or loader.batch_sampler.batch_size  # type: ignore[union-attr]
    indices = torch.arange(_length(ds, origin, "DataLoader")) if order is None else order
    like = functools.partial(_like, loader)
    stream = IndexedStream(ds, indices, size, like, origin, convert)
    if order is not None:
        stream.note = (
            f"the DataLoader from {origin} shuffles; a mean over the whole data set does not "
            f"depend on the order, so its dataset ({len(order)} examples) is read in its own "
            f"order, in batches of {size} with its collate_fn"
        )
    return stream


def _fixed_order(loader: DataLoader, origin: str) -> tuple[Tensor | None, str]:
    """For a loader that shuffles: the indices it reads, in data order, when every pass reads
    each of them once (a permutation, a shuffled subset); else (None, why it is random).
    (None, "") for a loader that does not shuffle."""
    batches = loader.batch_sampler
    samplers = [loader.sampler, getattr(batches, "sampler", None)]
    random = [s for s in samplers if _is_random(s)]
    if not random:
        return None, ""
    sampler = random[0]
    name = type(sampler).__name__
    fixable = isinstance(batches, BatchSampler) and batches.sampler is sampler
    ds = loader.dataset
    if not fixable or isinstance(ds, IterableDataset) or not hasattr(ds, "__len__"):
        return None, f"reads its examples in a random order of its own (a {name})"
    n = _length(ds, origin, "DataLoader")
    if isinstance(sampler, SubsetRandomSampler):
        return torch.as_tensor(list(sampler.indices), dtype=torch.long).sort().values, ""
    if isinstance(sampler, RandomSampler):
        if sampler.replacement or sampler.num_samples != n:
            drawn = "with replacement" if sampler.replacement else f"{sampler.num_samples} of {n}"
            return None, f"draws a random sample of its examples (a {name}, {drawn})"
        return torch.arange(n), ""
    if isinstance(sampler, DistributedSampler) and sampler.num_replicas == 1:
        return torch.arange(n), ""
    return None, f"draws a random sample of its examples (a {name})"


def _is_random(sampler: Any) -> bool:
    return (
        isinstance(sampler, RandomSampler | SubsetRandomSampler | WeightedRandomSampler)
        or getattr(sampler, "shuffle", False) is True
    )


def _like(loader: DataLoader, subset: Dataset, size: int) -> DataLoader:
    """A DataLoader over `subset` in order, with `loader`'s collate_fn and workers."""
    workers = {}
    if loader.num_workers:
        workers = {
            "num_workers": loader.num_workers,
            "worker_init_fn": loader.worker_init_fn,
            "multiprocessing_context": loader.multiprocessing_context,
            "persistent_workers": loader.persistent_workers,
            "prefetch_factor": loader.prefetch_factor,
            "timeout": loader.timeout,
        }
    return DataLoader(
        subset, batch_size=size, shuffle=False, collate_fn=loader.collate_fn, **workers
    )


def _length(ds: Dataset, origin: str, what: str) -> int:
    try:
        n = len(ds)  # type: ignore[arg-type]
    except Exception as exc:
        raise InputError(
            f"the {what} from {origin} has no length ({type(exc).__name__}: {exc})",
            "give the Dataset a __len__",
        ) from exc
    if n == 0:
        raise InputError(f"the {what} from {origin} is empty", "return a non-empty data set")
    return n


def sample_stream(stream: Stream, samples: int, seed: int) -> Stream:
    """`samples` examples of a stream: a seeded subset by index (kept in data order) of a
    map-style Dataset, reading no other example; the first `samples` of an iterable one."""
    if isinstance(stream, IndexedStream):
        index = sample_index(stream.num_examples, samples, seed, stream.origin)
        return stream.select(index)  # type: ignore[arg-type]
    sample_index(samples, samples, seed, stream.origin)  # checks the value
    first = stream.select(slice(0, samples))
    if first.num_examples < samples:
        sample_index(first.num_examples, samples, seed, stream.origin)
    return first


def drain(stream: Stream) -> tuple[Inputs, Tensor]:
    xs, ys = [], []
    for x, y in stream:
        xs.append(x)
        ys.append(y)
    if not xs:
        raise InputError(f"the data from {stream.origin} is empty", "return a non-empty data set")
    return stack(xs, stream.origin, "x", torch.cat), stack(ys, stream.origin, "y", torch.cat)
