"""From a user's model, data and loss to a `Problem`, leaving the model exactly as it was.

The problem is built on a deep copy of the model (`working_copy`): the caller's parameters,
`requires_grad` flags, `.grad`, modes, dtype, device, buffers and hooks are never touched.
The copy is cast to the analysis' dtype and put in eval mode (as the command line does), so
the cost is one copy of the parameters and buffers in that dtype while the problem lives."""

from __future__ import annotations

import copy
import difflib
import re

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset

from landscape.errors import InputError
from landscape.losses import LOSSES, Loss, get_loss, is_loss_name
from landscape.problem import Problem, build_problem

ORIGIN = "the `data` argument"
DTYPES = {
    "float64": torch.float64,
    "double": torch.float64,
    "float32": torch.float32,
    "float": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}
# nn losses the library analyses: the loss of the same name, and the attributes that must
# keep their defaults (a weighted or smoothed loss is another loss).
NN_LOSSES = {
    nn.CrossEntropyLoss: ("cross-entropy", {"weight": None, "label_smoothing": 0.0}),
    nn.NLLLoss: ("nll", {"weight": None}),
    nn.BCEWithLogitsLoss: ("bce", {"weight": None, "pos_weight": None}),
    nn.MSELoss: ("mse", {}),
}
LOSS_FIX = (
    f"pass one of {', '.join(repr(n) for n in LOSSES)}, or nn.CrossEntropyLoss(), "
    "nn.NLLLoss(), nn.BCEWithLogitsLoss() or nn.MSELoss() (reduction='mean')"
)


def dtype_of(value) -> torch.dtype:
    """A torch dtype from a torch dtype or its name (float64, float32, bfloat16)."""
    if isinstance(value, torch.dtype) and value in DTYPES.values():
        return value
    if isinstance(value, str) and value in DTYPES:
        return DTYPES[value]
    raise InputError(f"dtype {value!r} is not supported", "use torch.float64, float32 or bfloat16")


def device_of(value) -> torch.device:
    name = str(value)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {name!r}: CUDA is not available here", "use device='cpu'")
    if not (name == "cpu" or name.startswith("cuda")):
        raise InputError(f"device {name!r} is not known", "use 'auto', 'cpu' or 'cuda'")
    return torch.device(name)


def loss_of(loss, ignore_index: int = -100, class_dim: int | None = None) -> Loss:
    """The analysed loss from a name of the command line's vocabulary or an nn loss module.

    A module's `ignore_index` is honoured; its `reduction` must be 'mean' (the analysed loss
    L is the mean over examples; a 'sum' would scale every curvature by N); weights, label
    smoothing and any other module are refused."""
    if class_dim not in (None, 1, -1):
        raise InputError(f"class_dim must be 1 or -1, got {class_dim}", "use 1 or -1 (or None)")
    if isinstance(loss, str):
        if not is_loss_name(loss):
            raise InputError(f"loss {loss!r} is not known", LOSS_FIX)
        return get_loss(loss, ignore_index, class_dim)
    if not isinstance(loss, nn.Module) or type(loss) not in NN_LOSSES:
        kind = type(loss).__name__
        raise InputError(
            f"loss: {kind} cannot be analysed (the curvature needs the loss's own output-space "
            "Hessian and Fisher in closed form, known for four losses)",
            LOSS_FIX,
        )
    name, plain = NN_LOSSES[type(loss)]
    if loss.reduction != "mean":
        raise InputError(
            f"loss: reduction={loss.reduction!r} is not analysed (the loss L is the mean over "
            "examples; a sum scales every eigenvalue by N)",
            f"use nn.{type(loss).__name__}(reduction='mean') and multiply the figures by N",
        )
    changed = [k for k, v in plain.items() if _differs(getattr(loss, k, v), v)]
    if changed:
        raise InputError(
            f"loss: nn.{type(loss).__name__} with {', '.join(changed)} is another loss than "
            f"'{name}', which cannot be analysed",
            f"leave {', '.join(changed)} at the default",
        )
    if name in ("cross-entropy", "nll"):  # the class dimension from the shapes, or class_dim
        return get_loss(name, loss.ignore_index, class_dim)
    return get_loss(name)


def _differs(value, default) -> bool:
    if default is None:
        return value is not None
    return float(value) != default


def data_of(data, target: str | None = None):
    """(x, y) tensors from a tuple (x, y) (x a tensor or a dict of tensors) or a
    TensorDataset; (Stream, None) for any other Dataset or a DataLoader (read per pass)."""
    from landscape.load.convert import pair, validate
    from landscape.load.datasets import stream_of

    if isinstance(data, TensorDataset):
        if len(data.tensors) != 2:
            raise InputError(
                f"data: a TensorDataset of {len(data.tensors)} tensors, expected 2 (x, y)",
                "build it as TensorDataset(x, y)",
            )
        return validate(*data.tensors, ORIGIN)
    if isinstance(data, DataLoader | Dataset | IterableDataset):
        return stream_of(data, ORIGIN, target), None
    if not isinstance(data, tuple | list | dict):
        raise InputError(
            f"data: a {type(data).__name__} is not a data set",
            "pass a DataLoader, a Dataset, or a tuple (x, y) with x a tensor or a dict of tensors",
        )
    x, y = pair(data if isinstance(data, dict) else tuple(data), ORIGIN, "is a", target)
    return validate(x, y, ORIGIN)


def working_copy(model: nn.Module) -> nn.Module:
    """A deep copy of the model, the caller's left as it was; its gradients are dropped."""
    if not isinstance(model, nn.Module):
        raise InputError(f"model: a {type(model).__name__} is not an nn.Module", "pass the model")
    try:
        clone = copy.deepcopy(model)
    except Exception as exc:
        raise InputError(
            f"model: the model cannot be copied ({type(exc).__name__}: {exc}); the analysis "
            "works on a copy so that the model is left as it was",
            "make the model deep-copyable (no open files, locks or generators as attributes)",
        ) from None
    for p in clone.parameters():
        p.grad = None
    return clone


def check_params(model: nn.Module, pattern: str | None) -> None:
    """θ must not be empty: a regex that matches, or parameters that require grad."""
    named = [(n, p) for n, p in model.named_parameters() if p.dtype.is_floating_point]
    if pattern is None:
        if not any(p.requires_grad for _, p in named):
            raise InputError(
                "model: no parameter requires grad, so θ (the parameters analysed) is empty",
                "set requires_grad=True on the parameters to analyse, or name them with "
                "params='regex'",
            )
        return
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise InputError(f"params {pattern!r} is not a valid regex ({exc})", "fix it") from None
    if not any(regex.search(n) for n, _ in named):
        names = [n for n, _ in named]
        near = difflib.get_close_matches(pattern, names, n=5, cutoff=0.3) or names[:5]
        raise InputError(
            f"params {pattern!r} matches no parameter of the model",
            f"the nearest names: {', '.join(near) or 'none'}; see them all with ls.params(model)",
        )


def build(model, data, loss, opt: dict) -> Problem:
    """The problem of a call's options (the command line's names) on a copy of the model."""
    from landscape.load.datasets import sample_stream
    from landscape.load.stream import Stream

    if opt["batch_size"] is not None and opt["batch_size"] < 1:
        raise InputError(f"batch_size must be ≥ 1, got {opt['batch_size']}", "use e.g. 256")
    check_params(model, opt["params"])
    analysed = loss_of(loss, opt["ignore_index"], opt["class_dim"])
    dtype, device = dtype_of(opt["dtype"]), device_of(opt["device"])
    x, y = data_of(data, opt["target"])
    if opt["samples"] is not None:
        if isinstance(x, Stream):
            x = sample_stream(x, opt["samples"], opt["seed"])
        else:
            x, y = _subset(x, y, opt["samples"], opt["seed"])
    return build_problem(
        working_copy(model),
        x,
        y,
        analysed,
        batch_size=opt["batch_size"],
        dtype=dtype,
        device=device,
        params=opt["params"],
        output_key=opt["output"],
        shift_labels=str(opt["shift_labels"]),
    )


def _subset(x, y, samples: int, seed: int):
    from landscape.inputs import take
    from landscape.load.convert import sample_index

    index = sample_index(y.shape[0], samples, seed, ORIGIN)
    return take(x, index), y[index]
