"""`landscape interpolate`: the loss on the segment θ(α) = (1 − α)·θ_A + α·θ_B.

Buffers (BatchNorm statistics) are interpolated with the weights, or with `reset_bn`
re-estimated at each α: the norm layers run in train mode over the data with momentum None
(PyTorch's cumulative average of the batches' statistics; exact with one batch), then eval.
The barrier is max over α ∈ [0, 1] of L(α) − ((1 − α)L(0) + αL(1)); each end's second-order
Taylor model L + (α − α₀)·gᵀΔ + ½(α − α₀)²·ΔᵀHΔ costs one gradient and one product.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from landscape.analyses.surface.checks import check_end, check_points, check_range, check_values
from landscape.analyses.surface.report import (
    Barrier,
    Endpoint,
    InterpolationReport,
    InterpolationSettings,
    Taylor,
)
from landscape.checks import check_model_tensors
from landscape.curvature import HessianOperator
from landscape.errors import InputError
from landscape.problem import Problem, flatten

Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class Ends:
    """The two checkpoints on θ's names: A's and B's θ and floating buffers."""

    path_a: str
    path_b: str
    theta_a: list[Tensor]
    theta_b: list[Tensor]
    buffers_a: dict[str, Tensor]
    buffers_b: dict[str, Tensor]
    fixed_tensors: int  # parameters outside θ: A's values everywhere


def match_ends(problem: Problem, model_b: nn.Module, path_a: str, path_b: str) -> Ends:
    """B's θ and buffers, after checking that B has A's tensors (names and shapes)."""
    check_model_tensors(model_b)
    model_b = model_b.to(dtype=problem.dtype, device=problem.device)
    state_a, state_b = problem.model.state_dict(), model_b.state_dict()
    missing = [n for n in state_a if n not in state_b]
    extra = [n for n in state_b if n not in state_a]
    shapes = [
        f"{n} {tuple(state_b[n].shape)} vs {tuple(t.shape)}"
        for n, t in state_a.items()
        if n in state_b and tuple(state_b[n].shape) != tuple(t.shape)
    ]
    if missing or extra or shapes:
        what = (
            [f"B lacks {_first(missing)}"] * bool(missing)
            + [f"B has no counterpart in A for {_first(extra)}"] * bool(extra)
            + [f"shapes differ: {_first(shapes)}"] * bool(shapes)
        )
        raise InputError(
            f"the checkpoints do not match ({'; '.join(what)})",
            "interpolate between two checkpoints of the same architecture",
        )
    named_b = dict(model_b.named_parameters())
    buffers = [n for n, b in problem.model.named_buffers() if b.dtype.is_floating_point]
    names = set(problem.names)
    ends = Ends(
        path_a,
        path_b,
        list(problem.params),
        [named_b[n].detach() for n in problem.names],
        {n: state_a[n].detach().clone() for n in buffers},
        {n: state_b[n].detach().clone() for n in buffers},
        sum(1 for n, _ in problem.model.named_parameters() if n not in names),
    )
    check_end(ends.theta_b, ends.buffers_b, path_b, problem.dtype)
    return ends


def _first(items: list[str], n: int = 3) -> str:
    return ", ".join(items[:n]) + (f", ... ({len(items)} in all)" if len(items) > n else "")


def alphas_of(settings: InterpolationSettings) -> Tensor:
    steps = torch.arange(settings.steps, dtype=torch.float64) / (settings.steps - 1)
    return settings.lo + steps * (settings.hi - settings.lo)  # 0 and 1 exactly when on it


def analyse_interpolation(
    problem: Problem,
    ends: Ends,
    settings: InterpolationSettings,
    *,
    strategy: str = "auto",
    progress: Progress | None = None,
) -> InterpolationReport:
    start = time.perf_counter()
    tell = progress or (lambda stage, n: None)
    if settings.reset_bn and problem.reduce is not None:
        raise InputError(
            "reset_bn does not run data-parallel yet (each rank would estimate its own statistics)",
            "run it in one process, or leave out reset_bn",
            "reset_bn",
        )
    if settings.reset_bn and not norm_layers(problem.model):
        raise InputError(
            "reset_bn: the model has no BatchNorm layer with running statistics",
            "leave out reset_bn",
            "reset_bn",
        )
    check_range(settings.lo, settings.hi, "range of α")
    check_points(settings.steps, f"{settings.steps} values of α")
    alphas = alphas_of(settings)
    loss, right, has_classes = [], [], True
    for i, a in enumerate(alphas.tolist()):
        with at_alpha(problem, ends, a, settings.reset_bn) as params:
            value, share = loss_and_accuracy(problem, params)
        loss.append(value)
        right.append(share)
        has_classes = has_classes and share is not None
        tell("interpolation points", i + 1)
    delta = flatten(ends.theta_b) - flatten(ends.theta_a)
    op_strategy = "double-backward" if strategy == "auto" else strategy
    products, used = 0, "none"
    endpoints = []
    for alpha, path in ((0.0, ends.path_a), (1.0, ends.path_b)):
        end, n, used = _endpoint(problem, ends, alpha, path, delta, settings, op_strategy)
        endpoints.append(end)
        products += n
    a, b = endpoints
    taylor = Taylor(
        [a.loss + x * a.slope + 0.5 * x * x * a.curvature for x in alphas.tolist()],
        [b.loss + (x - 1) * b.slope + 0.5 * (x - 1) ** 2 * b.curvature for x in alphas.tolist()],
    )
    at = alphas.reshape(-1, 1)
    check_values(torch.tensor(loss, dtype=torch.float64), at, "loss", "α = {}")
    for values in (taylor.from_a, taylor.from_b):
        check_values(torch.tensor(values, dtype=torch.float64), at, "Taylor model", "α = {}")
    return InterpolationReport(
        alphas=alphas.tolist(),
        loss=loss,
        accuracy=right if has_classes else None,
        barrier=barrier(alphas.tolist(), loss, a.loss, b.loss),
        taylor=taylor,
        endpoints=endpoints,
        buffers=_buffers_phrase(ends, settings),
        distance=float(delta.double().norm()),
        relative_distance=float(delta.double().norm() / flatten(ends.theta_a).double().norm()),
        fixed_tensors=ends.fixed_tensors,
        num_params=problem.num_params,
        num_tensors=len(problem.params),
        num_targets=problem.num_targets,
        num_samples=problem.num_samples,
        products=products,
        seconds=time.perf_counter() - start,
        strategy=used,
        dtype=str(problem.dtype).replace("torch.", ""),
        device=str(problem.device),
    )


def _buffers_phrase(ends: Ends, settings: InterpolationSettings) -> str:
    if settings.reset_bn:
        return "re-estimated (--reset-bn)"
    return "interpolated" if ends.buffers_a else "none"


def _endpoint(problem, ends: Ends, alpha: float, path: str, delta: Tensor, settings, strategy):
    """One end: L, accuracy, gᵀΔ and ΔᵀHΔ (one gradient, one Hessian product)."""
    with at_alpha(problem, ends, alpha, settings.reset_bn) as params:
        here = problem.with_params(flatten(params))
        value, share = loss_and_accuracy(problem, params)
        _, g = here.loss_and_gradient()
        op = HessianOperator(here, strategy)
        hd = op.matvec(delta.to(dtype=problem.dtype))
        slope = float(g.double() @ delta.double())
        curvature = float(delta.double() @ hd.double())
    return Endpoint(path, alpha, value, share, slope, curvature), op.products, op.strategy


def barrier(alphas: list[float], loss: list[float], l0: float, l1: float) -> Barrier:
    """max over α ∈ [0, 1] (the grid's and both ends) of L(α) − ((1 − α)L(0) + αL(1))."""
    best_value, best_alpha = 0.0, 0.0
    for a, value in zip(alphas, loss, strict=True):
        if 0.0 <= a <= 1.0:
            gap = value - ((1 - a) * l0 + a * l1)
            if gap > best_value:
                best_value, best_alpha = gap, a
    scale = max(l0, l1)
    return Barrier(best_value, best_alpha, best_value / scale if scale > 0 else None)


def loss_and_accuracy(problem: Problem, params: list[Tensor]) -> tuple[float, float | None]:
    """L and the share of targets predicted right (None when the loss has no classes), in
    one pass over the data and one reduction."""
    loss_fn = problem.loss

    def part(batch):
        z = problem.outputs(params, batch.x)
        value = loss_fn.per_example(z, batch.y).sum() / problem.num_targets
        share = loss_fn.correct(z, batch.y)
        right = 0.0 if share is None else share * loss_fn.count(batch.y)
        extra = torch.tensor([right, float(share is None)], dtype=torch.float64, device=z.device)
        return torch.cat([value.double().reshape(1), extra])

    with torch.no_grad():
        total = problem.batch_sum(part).cpu()
    share = None if float(total[2]) > 0 else float(total[1]) / problem.num_targets
    return float(total[0]), share


# ------------------------------------------------------------------------- buffers
def norm_layers(model: nn.Module) -> list[nn.Module]:
    """The BatchNorm layers (1d/2d/3d, SyncBatchNorm) that keep running statistics."""
    return [
        m
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]


@contextmanager
def at_alpha(problem: Problem, ends: Ends, alpha: float, reset_bn: bool) -> Iterator[list]:
    """θ(α) (yielded) with the model's buffers at α, interpolated or re-estimated; the
    model's own buffers come back afterwards."""
    params = [(1 - alpha) * a + alpha * b for a, b in zip(ends.theta_a, ends.theta_b, strict=True)]
    buffers = dict(problem.model.named_buffers())
    saved = {n: buffers[n].detach().clone() for n in ends.buffers_a}
    try:
        with torch.no_grad():
            for n in ends.buffers_a:
                a, b = ends.buffers_a[n], ends.buffers_b[n]
                buffers[n].copy_((1 - alpha) * a + alpha * b)
        if reset_bn:
            reestimate_norm_statistics(problem, params)
        yield params
    finally:
        with torch.no_grad():
            for n, value in saved.items():
                buffers[n].copy_(value)


def reestimate_norm_statistics(problem: Problem, params: list[Tensor]) -> None:
    """Running statistics of every BatchNorm layer from train-mode passes over the data at
    `params` (momentum None: the cumulative average over batches); the rest stays in eval
    mode (no dropout), and every layer is back in eval mode afterwards."""
    layers = norm_layers(problem.model)
    momenta = [m.momentum for m in layers]
    try:
        for m in layers:
            m.reset_running_stats()
            m.momentum = None
            m.train()
        with torch.no_grad():
            problem.batch_map(lambda b: problem.outputs(params, b.x) is None)  # keep nothing
    finally:
        for m, momentum in zip(layers, momenta, strict=True):
            m.momentum = momentum
            m.eval()
