"""The problem every analysis works on: a model, the parameters θ, the data batches and a loss.

The dataset loss is the mean of ℓ over all N selected examples; each batch of n_b examples
enters with weight n_b/N, so an uneven last batch is exact. `batch_sum` is the one place where
per-batch results are added up (a distributed run would all-reduce there): the loss, the
gradient and every curvature product go through it, and only this module and the curvature
operators' base see the batches.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn.attention import SDPBackend, sdpa_kernel

from landscape_cli.errors import InputError
from landscape_cli.losses import Loss


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
    model: nn.Module
    names: list[str]
    params: list[Tensor]  # θ, detached, in `names` order
    batches: list[tuple[Tensor, Tensor]]
    loss: Loss
    num_samples: int
    metadata: dict = field(default_factory=dict)

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
        groups: dict[str, list[int]] = {}
        for i, name in enumerate(self.names):
            groups.setdefault(name.rpartition(".")[0] or name, []).append(i)
        offsets = [0]
        for p in self.params:
            offsets.append(offsets[-1] + p.numel())
        return [
            Block(module, slice(offsets[idx[0]], offsets[idx[-1] + 1]))
            for module, idx in groups.items()
        ]

    # -- evaluation -------------------------------------------------------------------------
    def outputs(self, params: list[Tensor], x: Tensor) -> Tensor:
        """Model outputs z for inputs x with θ replaced by `params`.

        Attention runs on the math kernel: the fused (flash, memory-efficient) kernels have
        no second derivative."""
        with sdpa_kernel(SDPBackend.MATH):
            return functional_call(self.model, dict(zip(self.names, params, strict=True)), (x,))

    def batch_loss(self, params: list[Tensor], batch) -> Tensor:
        """The batch's share of the dataset loss: (n_b/N)·mean_b ℓ."""
        z = self.outputs(params, batch[0])
        return self.loss.per_example(z, batch[1]).sum() / self.num_samples

    def batch_sum(self, fn: Callable[[Batch], Tensor]) -> Tensor:
        """Σ_b fn(batch_b): the single place where per-batch contributions are reduced."""
        total, start = None, 0
        for x, y in self.batches:
            part = fn(Batch(x, y, slice(start, start + len(x))))
            start += len(x)
            total = part if total is None else total + part
        return total

    def batch_map(self, fn: Callable[[Batch], object]) -> list:
        """[fn(batch_b) for every batch]: per-batch state that is not reduced (kept graphs)."""
        out, start = [], 0
        for x, y in self.batches:
            out.append(fn(Batch(x, y, slice(start, start + len(x)))))
            start += len(x)
        return out

    def probe_batch(self) -> Batch:
        """The first batch: for shape probes, memory estimates and graph inspection."""
        x, y = self.batches[0]
        return Batch(x, y, slice(0, len(x)))

    def output_sum(self, fn: Callable[[Tensor, Tensor], Tensor], flat: bool = True) -> Tensor:
        """Σ_b fn(z_b, y_b) over the data at θ without graph (z flattened per example)."""

        def part(batch: Batch) -> Tensor:
            z = self.outputs(self.params, batch.x)
            return fn(self.loss.flat_outputs(z) if flat else z, batch.y)

        with torch.no_grad():
            return self.batch_sum(part)

    def all_outputs(self) -> tuple[Tensor, Tensor]:
        """All outputs z (N, C), flattened per example, and all targets, at θ without graph."""
        with torch.no_grad():
            zs = [self.loss.flat_outputs(self.outputs(self.params, x)) for x, _ in self.batches]
        return torch.cat(zs), torch.cat([y for _, y in self.batches])

    def output_dim(self) -> int:
        """C: the number of outputs per example (flattened)."""
        with torch.no_grad():
            x = self.batches[0][0][:1]
            return self.loss.flat_outputs(self.outputs(self.params, x)).shape[1]

    def subsets(self, size: int) -> list[Problem]:
        """The data in consecutive parts of `size` examples, each as its own problem."""
        x = torch.cat([b[0] for b in self.batches])
        y = torch.cat([b[1] for b in self.batches])
        return [
            replace(
                self, batches=[(x[i : i + size], y[i : i + size])], num_samples=len(x[i : i + size])
            )
            for i in range(0, len(x), size)
        ]

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
    x: Tensor,
    y: Tensor,
    loss: Loss,
    *,
    batch_size: int | None = None,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device = "cpu",
    params: str | None = None,
    metadata: dict | None = None,
) -> Problem:
    """Cast model and data, select θ by regex, split the data into batches and check them."""
    if len(x) == 0:
        raise InputError("the data set is empty", "pass data with at least one example")
    if len(x) != len(y):
        raise InputError(
            f"inputs have {len(x)} examples but targets have {len(y)}",
            "give one target per input",
        )
    device = torch.device(device)
    model = model.to(device=device, dtype=dtype).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    names, tensors = _select_params(model, params)
    x = x.to(device=device, dtype=dtype) if x.dtype.is_floating_point else x.to(device)
    y = y.to(device=device, dtype=dtype) if y.dtype.is_floating_point else y.to(device)
    size = len(x) if not batch_size else batch_size
    if size < 1:
        raise InputError(f"--batch-size must be positive, got {batch_size}", "use e.g. 256")
    batches = [(x[i : i + size], y[i : i + size]) for i in range(0, len(x), size)]
    problem = Problem(model, names, tensors, batches, loss, len(x), metadata or {})
    _check_first_batch(problem)
    return problem


def _select_params(model: nn.Module, pattern: str | None) -> tuple[list[str], list[Tensor]]:
    named = [(n, p) for n, p in model.named_parameters() if p.dtype.is_floating_point]
    if pattern:
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise InputError(f"--params '{pattern}' is not a valid regex ({exc})", "") from None
        named = [(n, p) for n, p in named if regex.search(n)]
    if not named:
        available = ", ".join(n for n, _ in model.named_parameters())[:200]
        raise InputError(
            f"no parameters selected (pattern {pattern!r})",
            f"choose --params among: {available or 'none: the model has no parameters'}",
        )
    return [n for n, _ in named], [p.detach() for _, p in named]


def _check_first_batch(problem: Problem) -> None:
    x, y = problem.batches[0]
    try:
        with torch.no_grad():
            z = problem.outputs(problem.params, x)
    except Exception as exc:  # the model's own error, reduced to one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"the model failed on inputs of shape {tuple(x.shape)}: {first}",
            "check that the data belong to this model (input shape, dtype)",
        ) from None
    if not isinstance(z, Tensor):
        raise InputError(
            f"the model returned {type(z).__name__}, not a tensor of outputs",
            "wrap the model so that forward returns the logits tensor",
        )
    if z.shape[0] != x.shape[0]:
        raise InputError(
            f"the model returned {z.shape[0]} outputs for {x.shape[0]} inputs",
            "the first output dimension must be the batch",
        )
    problem.loss.check(z, y)
    for _, yb in problem.batches[1:]:
        problem.loss.check(z[: len(yb)], yb)
    value = problem.loss_at()
    if not math.isfinite(value):
        raise InputError(
            f"the loss at these weights is {value}",
            "check the checkpoint and the data for NaN/inf values or a wrong --loss",
        )
    if not _outputs_depend_on_params(problem, x):
        raise InputError(
            "the model's outputs pass no derivatives to its parameters",
            "remove detach(), torch.no_grad() or non-differentiable ops (argmax, round) from "
            "forward, or choose other --params",
        )


def _outputs_depend_on_params(problem: Problem, x: Tensor) -> bool:
    """True when Jᵀ1 (the gradient of Σz) is not identically zero on the first batch."""
    leaves = problem.leaves()
    z = problem.outputs(leaves, x)
    if not z.requires_grad:
        return False
    grads = torch.autograd.grad(z.sum(), leaves, allow_unused=True)
    return any(g is not None and bool(g.any()) for g in grads)
