"""Non-smooth operations and kink crossings along a line (taylor-check).

Operations whose derivatives jump (relu, abs, max, clamp, max-pool, ...) are found in the loss's
autograd graph; piecewise modules are watched by forward hooks that record, per unit, which
linear piece its input falls in, so that a step crossing a kink can be counted.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from landscape_cli.problem import Problem

NONSMOOTH_OPS = re.compile(
    r"(Relu|LeakyRelu|Prelu\w*|Rrelu\w*|Hardtanh|Elu|Hardswish|Hardsigmoid|Hardshrink|"
    r"Softshrink|Threshold|Abs|Clamp\w*|Maximum|Minimum|Max|Min|Fmax|Fmin|\w*MaxPool\w*|Sort|"
    r"Topk|Kthvalue|Median|Sign|Round|Floor|Ceil|Trunc|Frac|Remainder|Fmod)Backward\d*"
)


def nonsmooth_operations(problem: Problem) -> list[str]:
    """Operations in the autograd graph of the first batch's loss whose derivatives jump
    (relu, abs, max, clamp, max-pool, ...): kinks the loss may cross along a line."""
    leaves = problem.leaves()
    with torch.enable_grad():
        root = problem.batch_loss(leaves, problem.probe_batch()).grad_fn
    found, seen, stack = set(), set(), [root]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        match = NONSMOOTH_OPS.fullmatch(node.name())
        if match:
            found.add(match.group(1).lower())
        stack.extend(fn for fn, _ in node.next_functions)
    return sorted(found)


def kink_pieces(module: nn.Module) -> Callable[[Tensor], Tensor] | None:
    """For a piecewise-linear (or piecewise-smooth) module: input ↦ index of its piece."""
    simple = {
        nn.ReLU: [0.0],
        nn.LeakyReLU: [0.0],
        nn.PReLU: [0.0],
        nn.RReLU: [0.0],
        nn.ELU: [0.0],
        nn.SELU: [0.0],
        nn.CELU: [0.0],
        nn.ReLU6: [0.0, 6.0],
        nn.Hardsigmoid: [-3.0, 3.0],
        nn.Hardswish: [-3.0, 3.0],
    }
    for kind, cuts in simple.items():
        if isinstance(module, kind):
            return _bucketize(cuts)
    if isinstance(module, nn.Hardtanh):  # ReLU6 is handled above
        return _bucketize([module.min_val, module.max_val])
    if isinstance(module, nn.Hardshrink | nn.Softshrink):
        return _bucketize([-module.lambd, module.lambd])
    if isinstance(module, nn.Threshold):
        return _bucketize([module.threshold])
    if isinstance(module, nn.modules.pooling._MaxPoolNd | nn.modules.pooling._AdaptiveMaxPoolNd):
        return _argmax_of(module)
    return None


def _bucketize(cuts: list[float]):
    def pieces(x: Tensor) -> Tensor:
        return torch.bucketize(x, torch.tensor(cuts, dtype=x.dtype, device=x.device))

    return pieces


def _argmax_of(module: nn.Module):
    twin = copy.copy(module)
    twin.return_indices = True

    def pieces(x: Tensor) -> Tensor:
        return twin.forward(x)[1]  # forward, not __call__: the hooks stay out of it

    return pieces


class _PieceRecord:
    def __init__(self):
        self.codes: list[Tensor] = []


@contextmanager
def record_pieces(model: nn.Module):
    record = _PieceRecord()
    handles = []
    for module in model.modules():
        pieces = kink_pieces(module)
        if pieces is not None:

            def hook(_m, inputs, _out, pieces=pieces):
                record.codes.append(pieces(inputs[0].detach()))

            handles.append(module.register_forward_hook(hook))
    try:
        yield record
    finally:
        for handle in handles:
            handle.remove()
