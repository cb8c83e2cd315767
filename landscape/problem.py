"""The problem every analysis works on: a model, the parameters θ, the data batches and a loss.

The dataset loss is the mean of ℓ over all N selected examples; each batch of n_b examples
enters with weight n_b/N, so an uneven last batch is exact. `batch_sum` is the one place where
per-batch results are added up (a distributed run would all-reduce there): the loss, the
gradient and every curvature product go through it, and only this module and the curvature
operators' base see the batches. The batches are a list held in memory, or a `Stream` read
anew on every pass (a Dataset or DataLoader from a factory), in the same fixed order.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn.attention import SDPBackend, sdpa_kernel

from landscape import checks
from landscape.errors import InputError, NumericalError
from landscape.inputs import Inputs, cast, concat, describe, num_examples, select_output, take
from landscape.labels import choose_shift
from landscape.load.stream import Stream
from landscape.losses import Loss


@dataclass(frozen=True)
class Block:
    """A group of parameters (one module) as a slice of the flat parameter vector."""

    name: str
    slice: slice

    @property
    def size(self) -> int:
        return self.slice.stop - self.slice.start


class Batch(NamedTuple):
    """One batch as `batch_sum` hands it out: inputs, targets and its rows in the data set."""

    x: Tensor
    y: Tensor
    rows: slice


@dataclass
class Problem:
    """A model, its data, its loss and θ, as every call takes them (`ls.make_problem`, which
    leaves the caller's model as it was). `.loss_at()` (one pass over the data), `.gradient()`
    (one pass), `.num_params`, `.flat_params()`; no product is spent until an operator is."""

    model: nn.Module
    names: list[str]
    params: list[Tensor]  # θ, detached, in `names` order
    batches: list[tuple[Tensor, Tensor]] | Stream  # held, or read per pass
    loss: Loss
    num_samples: int
    metadata: dict = field(default_factory=dict)
    output_key: str | None = None  # the entry of a dict / ModelOutput the loss is taken of
    trainable: tuple[str, ...] = ()  # the parameters that required grad when it was built
    reduce: Callable[[Tensor], Tensor] | None = None  # Σ over processes (torchrun), else None
    shard: slice | None = None  # this process's examples of the whole data set (torchrun)
    notes: tuple[str, ...] = ()  # what was decided about the data, for the caller to say

    @functools.cached_property
    def num_targets(self) -> int:
        """What the dataset loss is the mean over: the examples, or for a sequence loss the
        targets that count (not `ignore_index`) over the whole data set."""
        local = sum(self.loss.count(y) for _, y in self.batches)
        if self.reduce is None:
            return local
        return int(self.reduce(torch.tensor(float(local), dtype=torch.float64)))

    # -- parameters -------------------------------------------------------------------------
    @property
    def num_params(self) -> int:
        return sum(p.numel() for p in self.params)

    @property
    def dtype(self) -> torch.dtype:
        return self.params[0].dtype

    @property
    def device(self) -> torch.device:
        return self.params[0].device

    def flat_params(self) -> Tensor:
        return flatten(self.params)

    def unflatten(self, flat: Tensor) -> list[Tensor]:
        return unflatten(flat, self.params)

    def blocks(self) -> list[Block]:
        """Parameter groups by module (e.g. `net.0` holds `net.0.weight` and `net.0.bias`)."""
        return blocks_of(self.names, [p.numel() for p in self.params])

    # -- evaluation -------------------------------------------------------------------------
    def outputs(self, params: list[Tensor], x: Inputs) -> Tensor:
        """Model outputs z for inputs x (a dict: keyword arguments) with θ replaced by `params`.

        Attention runs on the math kernel: the fused (flash, memory-efficient) kernels have
        no second derivative."""
        values = dict(zip(self.names, params, strict=True))
        try:
            with sdpa_kernel(SDPBackend.MATH):
                if isinstance(x, Mapping):
                    out = functional_call(self.model, values, (), dict(x))
                else:
                    out = functional_call(self.model, values, (x,))
        except Exception as exc:  # raised by the model's forward: the user's, on any batch
            raise checks.model_failed(exc, x) from exc
        return select_output(out, self.output_key)

    def batch_loss(self, params: list[Tensor], batch) -> Tensor:
        """The batch's share of the dataset loss: Σ_b ℓ_i / N (N: `num_targets`)."""
        z = self.outputs(params, batch[0])
        return self.loss.per_example(z, batch[1]).sum() / self.num_targets

    def batch_sum(self, fn: Callable[[Batch], Tensor]) -> Tensor:
        """Σ_b fn(batch_b): the single place where per-batch contributions are reduced."""
        total, start = None, 0
        for x, y in self.batches:
            part = fn(Batch(x, y, slice(start, start + num_examples(x))))
            start += num_examples(x)
            total = part if total is None else total + part
        return total if self.reduce is None else self.reduce(total)

    def batch_map(self, fn: Callable[[Batch], object]) -> list:
        """[fn(batch_b) for every batch]: per-batch state that is not reduced (kept graphs)."""
        out, start = [], 0
        for x, y in self.batches:
            out.append(fn(Batch(x, y, slice(start, start + num_examples(x)))))
            start += num_examples(x)
        return out

    def probe_batch(self) -> Batch:
        """The first batch: for shape probes, memory estimates and graph inspection."""
        x, y = self.batches.first() if isinstance(self.batches, Stream) else self.batches[0]
        return Batch(x, y, slice(0, num_examples(x)))

    def held(self) -> Problem:
        """The problem with its batches in memory (a stream read once into a list that every
        caller shares)."""
        if not isinstance(self.batches, Stream):
            return self
        return replace(self, batches=self.batches.held())

    def output_sum(self, fn: Callable[[Tensor, Tensor], Tensor], flat: bool = True) -> Tensor:
        """Σ_b fn(z_b, y_b) over the data at θ without graph (z flattened per example)."""

        def part(batch: Batch) -> Tensor:
            z = self.outputs(self.params, batch.x)
            return fn(self.loss.flat_outputs(z) if flat else z, batch.y)

        with torch.no_grad():
            return self.batch_sum(part)

    def all_outputs(self) -> tuple[Tensor, Tensor]:
        """All outputs z (N, C), flattened per example, and all targets, at θ without graph,
        in the data set's order; under torchrun every process gets all N examples' (gathered),
        so what is drawn from them is the one-process draw."""
        with torch.no_grad():
            zs = [self.loss.flat_outputs(self.outputs(self.params, x)) for x, _ in self.batches]
        z, y = torch.cat(zs), torch.cat([y for _, y in self.batches])
        return (z, y) if self.reduce is None else (self._gathered(z), self._gathered(y))

    def _gathered(self, rows: Tensor) -> Tensor:
        """Every process's rows in data-set order: each puts its shard into zeros and the sum
        over processes is the whole (adding zeros is exact)."""
        kind = torch.uint8 if rows.dtype == torch.bool else rows.dtype
        full = torch.zeros((self.num_samples, *rows.shape[1:]), dtype=kind, device=rows.device)
        full[self.shard] = rows.to(kind)
        return self.reduce(full).to(rows.dtype)

    def subsets(self, size: int) -> list[Problem]:
        """The data in consecutive parts of `size` examples of the whole data set, each as its
        own problem (loss, gradient and counts). Under torchrun a part holds this process's
        examples of it and its sums are reduced over the processes as the whole problem's are:
        the parts are one process's parts. A part with none of them here adds zeros."""
        if isinstance(self.batches, Stream) and self.shard is None:
            n = self.batches.num_examples
            parts = [slice(i, min(i + size, n)) for i in range(0, n, size)]
            return [
                replace(self, batches=self.batches.select(s), num_samples=s.stop - s.start)
                for s in parts
            ]
        x = concat([b[0] for b in self.batches])
        y = torch.cat([b[1] for b in self.batches])
        mine = self.shard or slice(0, len(y))
        parts = []
        for start in range(0, self.num_samples, size):
            stop = min(start + size, self.num_samples)
            lo, hi = max(start, mine.start), min(stop, mine.stop)
            held = lo < hi
            local = slice(lo - mine.start, hi - mine.start) if held else slice(0, 1)
            spread = (
                {}
                if self.shard is None
                else {
                    "shard": slice(lo - start, hi - start) if held else slice(0, 0),
                    "loss": self.loss if held else _Elsewhere(self.loss),
                }
            )
            batches = [(take(x, local), y[local])]
            parts.append(replace(self, batches=batches, num_samples=stop - start, **spread))
        return parts

    def loss_at(self, flat: Tensor | None = None) -> float:
        params = self.params if flat is None else self.unflatten(flat)
        with torch.no_grad():
            value = float(self.batch_sum(lambda b: self.batch_loss(params, b)))
        return value

    def gradient(self, flat: Tensor | None = None) -> Tensor:
        return self.loss_and_gradient(flat)[1]

    def loss_and_gradient(self, flat: Tensor | None = None) -> tuple[float, Tensor]:
        """The loss and its gradient in one pass over the data."""
        base = self.params if flat is None else self.unflatten(flat)
        leaves = [p.detach().requires_grad_() for p in base]

        def part(batch):
            loss = self.batch_loss(leaves, batch)
            grads = torch.autograd.grad(loss, leaves, allow_unused=True)
            return torch.cat([loss.detach().reshape(1), flatten(_zeros_for_none(grads, leaves))])

        total = self.batch_sum(part)
        return float(total[0]), total[1:]

    def leaves(self) -> list[Tensor]:
        """Fresh leaf tensors holding θ that require grad (for building graphs)."""
        return [p.detach().requires_grad_() for p in self.params]

    def with_params(self, flat: Tensor) -> Problem:
        """The same problem at other parameter values."""
        return replace(self, params=self.unflatten(flat))


class _Elsewhere(Loss):
    """The loss of a part of the data none of whose examples this process holds
    (`Problem.subsets` under torchrun): exactly zero with a zero gradient, counting no target,
    so the process adds zeros to the other processes' sums. The one example it is evaluated
    on only gives those sums their shape."""

    def __init__(self, loss: Loss):
        self.inner, self.name = loss, loss.name

    def flat_outputs(self, z: Tensor) -> Tensor:
        return self.inner.flat_outputs(z)

    def per_example(self, z: Tensor, y: Tensor) -> Tensor:
        return torch.zeros(len(z), dtype=z.dtype, device=z.device, requires_grad=True)

    def count(self, y: Tensor) -> int:
        return 0


def flatten(tensors) -> Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def unflatten(flat: Tensor, like: list[Tensor]) -> list[Tensor]:
    out, i = [], 0
    for t in like:
        out.append(flat[i : i + t.numel()].view_as(t))
        i += t.numel()
    return out


def _zeros_for_none(grads, leaves):
    return [torch.zeros_like(p) if g is None else g for g, p in zip(grads, leaves, strict=True)]


def build_problem(
    model: nn.Module,
    x: Inputs,
    y: Tensor,
    loss: Loss,
    *,
    batch_size: int | None = None,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device = "cpu",
    params: str | None = None,
    metadata: dict | None = None,
    output_key: str | None = None,
    world=None,
    shift_labels: str = "auto",
) -> Problem:
    """Cast model and data, select θ by regex, split the data into batches and check them.

    `x` may be a `Stream` (and y None): its batches are read and cast on every pass, in
    batches of `batch_size` (default: the stream's own). With a `world` (distributed.World),
    this process keeps its shard of the examples (a stream reads only its own) and the
    problem's sums are reduced over the processes; `num_samples` counts all of them.
    `shift_labels` ("auto", "yes", "no"): whether a causal LM's labels are shifted by one
    position (`labels.choose_shift`; auto: the model's own convention, told from the data)."""
    n = x.num_examples if isinstance(x, Stream) else num_examples(x)
    if n == 0:
        raise InputError("the data set is empty", "pass data with at least one example")
    if not isinstance(x, Stream) and n != len(y):
        raise InputError(
            f"inputs have {n} examples but targets have {len(y)}",
            "give one target per input",
        )
    device = torch.device(device)
    checks.check_model_tensors(model)
    model = model.to(device=device, dtype=dtype).eval()
    checks.check_finite_weights(model, dtype)
    chosen = select_params(model, params)
    trainable = tuple(n for n, p in model.named_parameters() if p.requires_grad)
    for p in model.parameters():
        p.requires_grad_(False)
    names, tensors = [n for n, _ in chosen], [p.detach() for _, p in chosen]
    total = n
    if batch_size and batch_size < 1:
        raise InputError(
            f"batch_size must be positive, got {batch_size}", "use e.g. 256", "batch_size"
        )
    if isinstance(x, Stream):
        stream = x if world is None else x.select(world.shard(n))
        batches = stream.batched(batch_size or None).cast_to(dtype, device)
    else:
        batches = _split(x, y, batch_size, dtype, device, world)
    reduce, shard = (None, None) if world is None else (world.all_reduce, world.shard(total))
    problem = Problem(
        model,
        names,
        tensors,
        batches,
        loss,
        total,
        metadata or {},
        output_key,
        trainable,
        reduce,
        shard,
    )
    note = choose_shift(problem, shift_labels)
    problem.notes = (note,) if note else ()
    _check_first_batch(problem)
    return problem


def _split(x: Inputs, y: Tensor, batch_size, dtype, device, world) -> list[tuple[Tensor, Tensor]]:
    """The held data (this process's shard of it) cast and cut into batches."""
    if world is not None:
        share = world.shard(len(y))
        x, y = take(x, share), y[share]
    x, y = cast(x, dtype, device), cast(y, dtype, device)
    n = len(y)
    size = batch_size or n
    return [(take(x, slice(i, i + size)), y[i : i + size]) for i in range(0, n, size)]


def select_params(model: nn.Module, pattern: str | None) -> list[tuple[str, Tensor]]:
    """θ: the floating parameters whose names match `pattern`; without one, those that
    require grad (all of them for a plain model; the trainable ones of a fine-tuning
    factory), or all when none does."""
    named = [(n, p) for n, p in model.named_parameters() if p.dtype.is_floating_point]
    if not pattern:
        trainable = [(n, p) for n, p in named if p.requires_grad]
        return trainable or named
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise InputError(f"params '{pattern}' is not a valid regex ({exc})", "", "params") from None
    chosen = [(n, p) for n, p in named if regex.search(n)]
    if not chosen:
        names = [n for n, _ in named]
        near = difflib.get_close_matches(pattern, names, n=5, cutoff=0.3) or names[:5]
        raise InputError(
            f"no parameters selected (pattern {pattern!r})",
            f"the nearest names: {', '.join(near) or 'none: the model has no parameters'}; "
            "see them all with `landscape params MODEL`",
        )
    return chosen


def blocks_of(names: list[str], sizes: list[int]) -> list[Block]:
    """Parameter groups by module (e.g. `net.0` holds `net.0.weight` and `net.0.bias`) as
    slices of the flat vector of these parameters."""
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        groups.setdefault(name.rpartition(".")[0] or name, []).append(i)
    offsets = [0]
    for size in sizes:
        offsets.append(offsets[-1] + size)
    return [
        Block(module, slice(offsets[idx[0]], offsets[idx[-1] + 1]))
        for module, idx in groups.items()
    ]


def _check_first_batch(problem: Problem) -> None:
    x, y = problem.probe_batch()[:2]
    try:
        with torch.no_grad():
            z = problem.outputs(problem.params, x)
    except InputError:
        raise
    except Exception as exc:  # the model's own error, reduced to one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"the model failed on inputs of shape {describe(x)}: {first}",
            "check that the data belong to this model (input shape, dtype)",
        ) from None
    checks.check_outputs_type(z)
    with torch.no_grad():
        checks.check_deterministic(z, lambda: problem.outputs(problem.params, x))
    if z.ndim == 0 or z.shape[0] != num_examples(x):
        raise InputError(
            f"the model returned outputs of shape {tuple(z.shape)} for {num_examples(x)} inputs",
            "the first output dimension must be the batch",
        )
    problem.loss.check(z, y)
    if isinstance(problem.batches, Stream):
        sums = _same_on_two_passes(problem)
    else:
        for _, yb in problem.batches[1:]:
            problem.loss.check(z[: len(yb)], yb)
    if problem.num_targets == 0:
        raise InputError(
            "every target is the ignored index: the loss is an empty mean",
            "check the labels and ignore_index",
            "ignore_index",
        )
    if isinstance(problem.batches, Stream):
        total = sums.sum() if problem.reduce is None else problem.reduce(sums.sum())
        value = float(total) / problem.num_targets
    else:
        value = problem.loss_at()
    if not math.isfinite(value):
        raise InputError(
            f"the loss at these weights is {value}",
            "check the checkpoint and the data for NaN/inf values or a wrong `loss`",
            "loss",
        )
    if not _outputs_depend_on_params(problem, x):
        raise InputError(
            "the model's outputs pass no derivatives to its parameters",
            "remove detach(), torch.no_grad() or non-differentiable ops (argmax, round) from "
            "forward, or choose other params",
            "params",
        )
    probe = problem.probe_batch()
    checks.check_symmetric(lambda ps: problem.batch_loss(ps, probe), problem.leaves(), x)


def _same_on_two_passes(problem: Problem) -> Tensor:
    """Each batch's summed loss on two passes over a stream (every batch's targets checked
    against its outputs): a loader that shuffles or augments gives other batches each time,
    and a curvature summed over them would change from product to product (curvlinops'
    determinism check). Returns the first pass's sums."""

    def part(batch: Batch) -> Tensor:
        z = problem.outputs(problem.params, batch.x)
        problem.loss.check(z, batch.y)
        return problem.loss.per_example(z, batch.y).sum().double()

    with torch.no_grad():
        first, second = problem.batch_map(part), problem.batch_map(part)
    same = len(first) == len(second)
    if same:
        a, b = torch.stack(first), torch.stack(second)
        same = bool(((a - b).abs() <= 1e-9 * a.abs().max().clamp_min(1e-300)).all())
    if problem.reduce is not None:  # every process refuses together
        flag = torch.tensor(float(not same), dtype=torch.float64, device=problem.device)
        same = float(problem.reduce(flag)) == 0
    if not same:
        where = problem.batches.origin  # type: ignore[union-attr]
        raise NumericalError(
            f"the data from {where} gives other batches on a second pass (the batches' losses "
            "differ): the loader shuffles (shuffle=True, a random sampler) or augments (random "
            "transforms), so every product would see another matrix",
            "build it with shuffle=False and fixed (evaluation) transforms, so that it reads "
            "the same examples in the same order on every pass",
        )
    return torch.stack(first)


def _outputs_depend_on_params(problem: Problem, x: Inputs) -> bool:
    """True when Jᵀ1 (the gradient of Σz) is not identically zero on the first batch."""
    leaves = problem.leaves()
    z = problem.outputs(leaves, x)
    if not z.requires_grad:
        return False
    try:
        grads = torch.autograd.grad(z.sum(), leaves, allow_unused=True)
    except Exception as exc:  # raised by a backward of the model's own (autograd.Function)
        raise checks.backward_failed(exc, x) from exc
    return any(g is not None and bool(g.any()) for g in grads)
