"""Non-smooth operations and kink crossings along a line (taylor-check).

Operations whose derivatives jump (relu, abs, max, clamp, max-pool, ...) are found in the loss's
autograd graph. Their crossings are counted: a torch-function mode records, per unit, which
piece the input of every relu-type, abs, clamp, maximum or max-pool call falls in (in a module,
functionally or as a tensor method; a max-pool's piece is its argmax), and forward hooks do the
same for shrink and threshold modules, so that a step crossing a kink can be told from one that
does not.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import contextmanager

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from landscape.problem import Problem

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


def _at(*cuts: float) -> Callable:
    """Pieces of an elementwise op with kinks at `cuts`: (args, kwargs) ↦ codes."""

    def pieces(args, kwargs) -> Tensor:
        return _bucket(args[0], list(cuts))

    return pieces


def _hardtanh(args, kwargs) -> Tensor:
    low = kwargs.get("min_val", args[1] if len(args) > 1 else -1.0)
    high = kwargs.get("max_val", args[2] if len(args) > 2 else 1.0)
    return _bucket(args[0], [low, high])


def _clamp(args, kwargs) -> Tensor:
    x = args[0]
    low = kwargs.get("min", args[1] if len(args) > 1 else None)
    high = kwargs.get("max", args[2] if len(args) > 2 else None)
    code = torch.zeros(x.shape, dtype=torch.int8, device=x.device)
    for bound in (low, high):
        if bound is not None:
            code += (x > bound).to(torch.int8)
    return code


def _versus(args, kwargs) -> Tensor | None:
    """max/min/maximum/minimum of two tensors: which one is larger (None: a reduction)."""
    other = args[1] if len(args) > 1 else kwargs.get("other")
    if not isinstance(other, Tensor):
        return None
    return torch.sign(args[0].detach() - other.detach()).to(torch.int8)


def _bucket(x: Tensor, cuts: list[float]) -> Tensor:
    cuts_t = torch.tensor(cuts, dtype=x.dtype, device=x.device)
    return torch.bucketize(x.detach(), cuts_t).to(torch.int8)


F = torch.nn.functional
# Operations whose derivatives jump, by function (module forms call these too): their pieces
# are recorded wherever they are called, in a module, functionally or as a tensor method.
PIECEWISE: dict = {
    **dict.fromkeys(
        (torch.relu, torch.relu_, F.relu, F.relu_, torch.Tensor.relu, torch.Tensor.relu_),
        _at(0.0),
    ),
    **dict.fromkeys((F.leaky_relu, F.prelu, F.rrelu, F.elu, F.selu, F.celu), _at(0.0)),
    **dict.fromkeys((torch.abs, torch.Tensor.abs, torch.Tensor.abs_), _at(0.0)),
    F.relu6: _at(0.0, 6.0),
    F.hardsigmoid: _at(-3.0, 3.0),
    F.hardswish: _at(-3.0, 3.0),
    F.hardtanh: _hardtanh,
    **dict.fromkeys(
        (torch.clamp, torch.clip, torch.Tensor.clamp, torch.Tensor.clamp_, torch.Tensor.clip),
        _clamp,
    ),
    **dict.fromkeys(
        (torch.maximum, torch.minimum, torch.fmax, torch.fmin, torch.max, torch.min), _versus
    ),
}


# Max-pools (functional, the modules' forward and torch's own): the argmax of each window, by
# the name torch hands to the mode (F.adaptive_max_pool2d reaches it as another object).
POOLS = {
    **{f"max_pool{n}d": (getattr(F, f"max_pool{n}d_with_indices"), 6) for n in (1, 2, 3)},
    **{
        f"adaptive_max_pool{n}d": (getattr(F, f"adaptive_max_pool{n}d_with_indices"), 2)
        for n in (1, 2, 3)
    },
}


def _pool_pieces(func) -> Callable | None:
    name = getattr(func, "__name__", "").removesuffix("_with_indices")
    if name not in POOLS:
        return None
    with_indices, arity = POOLS[name]

    def pieces(args, kwargs) -> Tensor:
        rest = {k: v for k, v in kwargs.items() if k != "return_indices"}
        return with_indices(args[0].detach(), *args[1:arity], **rest)[1]

    return pieces


def kink_pieces(module: nn.Module) -> Callable[[Tensor], Tensor] | None:
    """For a piecewise module that calls none of PIECEWISE (shrink, threshold):
    input ↦ index of its piece."""
    if isinstance(module, nn.Hardshrink | nn.Softshrink):
        lambd = module.lambd
        return lambda x: _bucket(x, [-lambd, lambd])
    if isinstance(module, nn.Threshold):
        threshold = module.threshold
        return lambda x: _bucket(x, [threshold])
    return None


class _PieceRecord(TorchFunctionMode):
    """Records, in call order, the piece of every input of a PIECEWISE operation (and of the
    hooked modules), and the names of what it saw."""

    def __init__(self):
        super().__init__()
        self.codes: list[Tensor] = []
        self.seen: set[str] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        pieces = PIECEWISE.get(func) or _pool_pieces(func)
        codes = pieces(args, kwargs) if pieces and args and isinstance(args[0], Tensor) else None
        if codes is not None:
            self.codes.append(codes)
            self.seen.add(
                getattr(func, "__name__", str(func)).removesuffix("_with_indices").rstrip("_")
            )
        return func(*args, **kwargs)


@contextmanager
def record_pieces(model: nn.Module):
    record = _PieceRecord()
    handles = []
    for module in model.modules():
        pieces = kink_pieces(module)
        if pieces is not None:

            def hook(_m, inputs, _out, pieces=pieces):
                record.codes.append(pieces(inputs[0].detach()))
                record.seen.add(type(_m).__name__)

            handles.append(module.register_forward_hook(hook))
    try:
        with record:
            yield record
    finally:
        for handle in handles:
            handle.remove()
