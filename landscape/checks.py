"""What a model and its weights must be before any figure is meaningful, and the user's own
errors (raised in the model's forward, a Dataset, a DataLoader worker) as one line.

Each check runs once, when the problem is built, on the first batch; they cost one forward
pass and two curvature products in all (`check_deterministic`, `check_symmetric`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from landscape.errors import InputError, LandscapeError
from landscape.inputs import describe

MEMORY_WORDS = ("out of memory", "can't allocate memory", "not enough memory")
# Two forward passes agree within √eps·|z|max: a deterministic one exactly (CPU) or to a few
# ulps of its sums (GPU reductions in another order); a random one by O(|z|).
# u·(Hv) and v·(Hu) agree to rounding: a few ulps per term of the dot products, growing like
# √p; a wrong or missing second derivative leaves them apart by O(1) of their scale.
SYMMETRY_ULPS = 100.0


def error_text(exc: BaseException) -> str:
    """`Type: message`, on one line. A DataLoader worker's error (re-raised by the main
    process with the worker's whole traceback as its message) gives the original's last line."""
    text = str(exc).strip()
    if "Original Traceback" in text:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines:
            return lines[-1][:500]
    first = text.splitlines()[0].strip() if text else ""
    return f"{type(exc).__name__}: {first}"[:500] if first else type(exc).__name__


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError | torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and any(w in str(exc) for w in MEMORY_WORDS)


def model_failed(exc: Exception, x) -> LandscapeError:
    """The error a model raised in its forward pass, as the user's: one line with the batch."""
    if isinstance(exc, LandscapeError):
        return exc
    if is_out_of_memory(exc):
        return InputError(
            f"the model ran out of memory on a batch of shape {describe(x)} ({error_text(exc)})",
            "use smaller batches (--batch-size) or fewer examples (--samples)",
        )
    return InputError(
        f"the model raised {error_text(exc)} on a batch of inputs of shape {describe(x)}",
        "fix the model's forward, or check that the data belong to this model",
    )


def backward_failed(exc: Exception, x) -> LandscapeError:
    """The error the model's backward pass (a custom autograd.Function's) raised."""
    if isinstance(exc, LandscapeError) or is_out_of_memory(exc):
        return model_failed(exc, x)
    return InputError(
        f"the model's backward pass raised {error_text(exc)} on a batch of inputs of shape "
        f"{describe(x)}",
        "fix the backward of the model's custom autograd functions",
    )


# ------------------------------------------------------------------ the weights, at load
def check_state_tensors(state: dict, path) -> None:
    """Complex tensors in a state dict: loading them into real parameters would drop the
    imaginary part without a word."""
    bad = [k for k, v in state.items() if isinstance(v, Tensor) and v.is_complex()]
    if bad:
        raise InputError(
            f"checkpoint '{path}' holds complex tensors ({_first(bad)}): the analysis is of "
            "real parameters, and casting would drop the imaginary parts",
            "save real tensors (e.g. torch.view_as_real for complex weights)",
        )


def check_model_tensors(model: nn.Module) -> None:
    """Before the cast: no tensor on the meta device (no data) and none complex."""
    tensors = [*model.named_parameters(), *model.named_buffers()]
    meta = [n for n, t in tensors if t.is_meta]
    if meta:
        raise InputError(
            f"the model's tensors are on the meta device, with no values ({_first(meta)})",
            "build the model with real tensors in its factory (not device='meta' or "
            "init_empty_weights), or load the weights into it there",
        )
    complex_ = [n for n, t in tensors if t.is_complex()]
    if complex_:
        raise InputError(
            f"the model has complex tensors ({_first(complex_)}): the analysis is of real "
            "parameters",
            "build the model with real parameters",
        )


def check_finite_weights(model: nn.Module, dtype: torch.dtype) -> None:
    """After the cast to the run's dtype: every floating parameter and buffer finite (a value
    beyond the dtype's range becomes inf in the cast)."""
    bad = [
        n
        for n, t in [*model.named_parameters(), *model.named_buffers()]
        if t.is_floating_point() and not bool(torch.isfinite(t).all())
    ]
    if bad:
        name = str(dtype).replace("torch.", "")
        raise InputError(
            f"the weights hold NaN or inf values in {name} ({_first(bad)})",
            "check the checkpoint (values beyond the dtype's range, e.g. > 3.4e38 in float32, "
            "become inf: a wider --dtype keeps them)",
        )


# ------------------------------------------------------------------ the model, on a batch
def check_outputs_type(z: Tensor) -> None:
    if not (z.is_floating_point() or z.is_complex()):
        raise InputError(
            f"the model returned {str(z.dtype).replace('torch.', '')} outputs: a loss of "
            "integers has no derivative",
            "return the floating-point outputs (logits), not rounded or integer values",
        )


def check_deterministic(first: Tensor, again: Callable[[], Tensor]) -> None:
    """Two forward passes of the first batch agree (one more forward, without graph): a
    forward that draws noise in eval mode (dropout forced on, added noise) would make every
    product another random matrix, and the certified eigenvalues those of one draw."""
    second = again()
    if second.shape != first.shape:
        second = torch.full_like(first, math.inf)
    scale = float(first.detach().abs().max()) if first.numel() else 0.0
    eps = torch.finfo(first.dtype).eps if first.is_floating_point() else 0.0
    diff = float((second.detach() - first.detach()).abs().max()) if first.numel() else 0.0
    if not diff <= math.sqrt(eps) * max(scale, 1e-300):
        raise InputError(
            f"the model is random in eval mode: two forward passes of the same batch differ "
            f"(by up to {diff:.3g}, outputs up to {scale:.3g})",
            "remove the randomness from forward in eval mode (dropout with training=True, "
            "added noise, sampling): the curvature of one noise draw means nothing",
        )


def check_symmetric(loss: Callable[[list[Tensor]], Tensor], leaves: list[Tensor], x) -> None:
    """u·(Hv) = v·(Hu) on the first batch for two seeded random vectors: two Hessian products
    (one gradient with graph, then two double-backward passes). An operation without a
    second derivative (`@once_differentiable`) raises in them, and one whose backward is not
    the derivative of its forward breaks the symmetry."""
    g = torch.Generator().manual_seed(0)
    dtype, device = leaves[0].dtype, leaves[0].device
    u, v = ([_random(p.shape, g).to(device=device, dtype=dtype) for p in leaves] for _ in "uv")
    try:
        grads = torch.autograd.grad(loss(leaves), leaves, create_graph=True, allow_unused=True)
        pairs = [(gr, p) for gr, p in zip(grads, range(len(leaves))) if gr is not None]
        if not pairs or not any(gr.requires_grad for gr, _ in pairs):
            return  # a gradient without graph: the operators say so in their own words
        hu = _product(pairs, u, leaves, retain=True)
        hv = _product(pairs, v, leaves, retain=False)
    except LandscapeError:
        raise
    except RuntimeError as exc:
        if "once_differentiable" in str(exc) or "differentiate twice" in str(exc):
            raise _no_second_derivative(error_text(exc)) from None
        return  # another missing derivative: the operators say which, with their own fix
    except Exception as exc:  # raised by a custom backward of the model's
        raise backward_failed(exc, x) from exc
    uhv, vhu = _dot(u, hv), _dot(v, hu)
    scale = _norm(u) * _norm(hv) + _norm(v) * _norm(hu)
    p = sum(t.numel() for t in leaves)
    eps = torch.finfo(dtype).eps
    if not abs(uhv - vhu) <= SYMMETRY_ULPS * eps * math.sqrt(p) * scale:
        raise _no_second_derivative(
            f"two curvature products are not symmetric: u·Hv = {uhv:.6g}, v·Hu = {vhu:.6g}"
        )


def _random(shape, generator: torch.Generator) -> Tensor:
    return torch.randn(shape, generator=generator, dtype=torch.float64)


def _product(pairs, vector: list[Tensor], leaves: list[Tensor], retain: bool) -> list[Tensor]:
    dot = sum((gr * vector[i]).sum() for gr, i in pairs)
    out = torch.autograd.grad(dot, leaves, retain_graph=retain, allow_unused=True)
    return [torch.zeros_like(p) if h is None else h for h, p in zip(out, leaves, strict=True)]


def _dot(a: list[Tensor], b: list[Tensor]) -> float:
    return float(sum((x.double() * y.double()).sum() for x, y in zip(a, b, strict=True)))


def _norm(a: list[Tensor]) -> float:
    return math.sqrt(_dot(a, a))


def _no_second_derivative(what: str) -> InputError:
    return InputError(
        f"an operation of the model has no second derivative ({what})",
        "replace custom autograd functions marked @once_differentiable (or whose backward is "
        "not the derivative of forward) with twice-differentiable operations",
    )


def _first(names: list[str], n: int = 3) -> str:
    return ", ".join(names[:n]) + (f", ... ({len(names)} in all)" if len(names) > n else "")


# ------------------------------------------------------------------ data read without end
MAX_UNSIZED = 100_000  # examples an iterable without a length may give unbounded (counted once)


def check_unsized(count: int, origin: str, stop: int | None) -> None:
    """An iterable-style data set is counted by reading it; past MAX_UNSIZED examples, with
    no bound asked for (`stop`), it is taken for an endless one (every product would read it
    whole): a bound is asked for instead of a run that never ends."""
    if stop is None and count > MAX_UNSIZED:
        raise InputError(
            f"the data from {origin} is an iterable without a length that gave more than "
            f"{MAX_UNSIZED:,} examples without ending (an endless one?), and every curvature "
            "product would read it whole",
            "bound it: --samples N reads its first N examples",
        )
