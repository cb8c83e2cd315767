"""A causal language model's labels: Hugging Face's convention, or shifted already.

A Hugging Face causal LM (`GPT2LMHeadModel`, `LlamaForCausalLM`) is given `labels = input_ids`
(the ignored index at padding) and shifts them itself: its loss scores the logits at position t
against the label at t + 1, the mean over the counted `labels[:, 1:]`. Not every model named
so does (`BartForCausalLM`, `XLMWithLMHeadModel` score each position against its own label), so
what the model does is asked of the model: its own loss (`model(**x, labels=y).loss`) on the
first batch is compared with both readings. Where it has none to ask (no `labels` argument, no
`loss` in what it returns, or a loss that is neither), the names say (a class named
`*ForCausalLM` or `*LMHeadModel`, or a `loss_type` of "ForCausalLM").

For a model that shifts, the labels may still come shifted already (labels[:, t] =
input_ids[:, t + 1]), to be scored as they are. Which of the two a data set holds is read from
the inputs' token ids (`input_ids`, or integer inputs of the labels' shape) over the whole data
set: labels equal to them wherever counted are Hugging Face's, labels equal to them moved by one
are shifted already. Labels that fit both (constant sequences) or neither, or inputs without
token ids, cannot be told apart: they are refused, and the caller says which.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Iterator, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landscape.errors import InputError
from landscape.inputs import select_output
from landscape.losses import CrossEntropy

AUTO, YES, NO = "auto", "yes", "no"
SCORED = "logits[:, :-1] scored against labels[:, 1:]"
SAY_WHICH = (
    "say which: shift_labels='yes' (labels = input_ids, shifted as the model's own loss does) "
    "or 'no' (labels shifted already, scored as they are)"
)
AGREE = 1e-4  # relative: the model's own loss (HF's in float32) against a reading of it


class LabelConvention(InputError):
    """The labels' convention cannot be told, or asked for and impossible: the user's word
    settles it (`forced`: shifting was asked for and these labels have no positions)."""

    def __init__(self, problem: str, fix: str = SAY_WHICH, forced: bool = False):
        super().__init__(problem, fix)
        self.forced = forced


def named_causal_lm(model: nn.Module) -> bool:
    """Whether the model's names say it is a causal LM (that shifts its labels)."""
    if type(model).__name__.endswith(("ForCausalLM", "LMHeadModel")):
        return True
    try:
        return getattr(model, "loss_type", None) == "ForCausalLM"
    except Exception:  # a property of the user's that fails says nothing either way
        return False


def own_loss_shifts(model: nn.Module, x, y: Tensor, output_key, ignore_index: int) -> bool | None:
    """Whether the model's own loss on this batch scores position t against the label at
    t + 1 (True) or at t (False); None where it has no loss to ask or fits both or neither."""
    if not isinstance(x, Mapping) or "labels" in x or int((y != ignore_index).sum()) == 0:
        return None
    try:
        if "labels" not in inspect.signature(model.forward).parameters:
            return None
        with torch.no_grad(), _quiet("transformers"):
            out = model(**x, labels=y)
            own = out.get("loss") if isinstance(out, Mapping) else None
            z = select_output(out, output_key).double()
            if own is None or z.shape[:2] != y.shape or z.ndim != 3:
                return None
            own = float(own)
            flat = z.reshape(-1, z.shape[-1])
            same = float(F.cross_entropy(flat, y.reshape(-1), ignore_index=ignore_index))
            moved = F.pad(y, (0, 1), value=ignore_index)[:, 1:].reshape(-1)
            shifted = float(F.cross_entropy(flat, moved, ignore_index=ignore_index))
    except Exception:  # the model's own loss failed: it cannot be asked
        return None
    fits = [abs(own - v) <= AGREE * max(1.0, abs(own)) for v in (shifted, same)]
    return fits[0] if fits[0] != fits[1] else None


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """A library's warnings held back (transformers' note on its default loss)."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def token_ids(x) -> Tensor | None:
    """The inputs' token ids: `input_ids` of a dict, or integer inputs themselves."""
    ids = x.get("input_ids") if isinstance(x, Mapping) else x
    if not isinstance(ids, Tensor) or ids.dtype.is_floating_point or ids.dtype == torch.bool:
        return None
    return None if ids.is_complex() else ids


def tally(x, y: Tensor, ignore_index: int) -> Tensor:
    """One batch's [counted labels, those unequal to the token at their position, those
    unequal to the next token, 1 where the inputs hold no token ids of the labels' shape]."""
    ids, keep = token_ids(x), y != ignore_index
    if ids is None or ids.shape != y.shape:
        return torch.tensor([float(keep.sum()), 0.0, 0.0, 1.0], device=y.device)
    own = keep & (y != ids)
    following = keep[:, :-1] & (y[:, :-1] != ids[:, 1:])
    counts = [keep.sum(), own.sum(), following.sum(), torch.zeros((), device=y.device)]
    return torch.stack(counts).double()


def choose_shift(problem, mode: str) -> str | None:
    """Set `problem.loss.shift` as `mode` says ("auto": the model's own convention, the labels'
    told from the data; "yes"; "no") and return the line that says what was done (None:
    nothing to say). Raises `LabelConvention` where the labels cannot be told apart or
    shifted."""
    mode, loss = str(mode), problem.loss
    if mode not in (AUTO, YES, NO):
        raise InputError(f"shift_labels must be auto, yes or no, got {mode!r}", SAY_WHICH)
    if isinstance(loss, CrossEntropy):
        loss.shift = False
    if mode == NO:
        return None
    x, y = problem.probe_batch()[:2]
    if not (isinstance(loss, CrossEntropy) and not y.dtype.is_floating_point and y.ndim == 2):
        if mode == YES:
            raise LabelConvention(
                f"labels of shape {tuple(y.shape)} and dtype {y.dtype} ({loss.name}) have no "
                "sequence positions to shift (integer labels (N, T) with cross-entropy or nll)",
                "leave the labels as they are (shift_labels 'auto' or 'no')",
                forced=True,
            )
        return None  # other heads or losses: nothing to shift
    if mode == YES:
        loss.shift = True
        return f"labels shifted by one position as asked: {SCORED}"
    name = type(problem.model).__name__
    shifts = _agreed(
        problem, own_loss_shifts(problem.model, x, y, problem.output_key, loss.ignore_index)
    )
    if shifts is False and named_causal_lm(problem.model):
        return f"{name}'s own loss scores each position against its own label: so are these"
    if shifts or (shifts is None and named_causal_lm(problem.model)):
        return _told_apart(problem, loss, name)
    return None


def _agreed(problem, verdict: bool | None) -> bool | None:
    """One verdict for every process (torchrun): each asked the model on its own first batch."""
    if problem.reduce is None:
        return verdict
    votes = torch.tensor([verdict is True, verdict is False], dtype=torch.float64)
    yes, no = (v > 0 for v in problem.reduce(votes.to(problem.device)).tolist())
    return yes if yes != no else None


def _told_apart(problem, loss: CrossEntropy, name: str) -> str | None:
    totals = problem.batch_sum(lambda b: tally(b.x, b.y, loss.ignore_index))
    counted, own, following, unknown = (int(v) for v in totals.tolist())
    if counted == 0:
        return None  # every label ignored: refused as an empty mean
    if unknown:
        raise LabelConvention(
            f"{name} shifts its labels itself, and the inputs hold no token ids (input_ids of "
            "the labels' shape) to tell whether these labels are input_ids or shifted already"
        )
    if own == 0 and following == 0:
        raise LabelConvention(
            f"{name} shifts its labels itself, and these labels equal both input_ids and "
            "input_ids shifted by one (every counted one), so they could be either"
        )
    if own and following:
        raise LabelConvention(
            f"{name} shifts its labels itself, and these labels are neither input_ids "
            f"({own} of {counted} counted labels differ) nor input_ids shifted by one "
            f"({following} differ)"
        )
    if own == 0:
        loss.shift = True
        return (
            f"labels = input_ids (Hugging Face's convention for {name}): shifted as its own "
            f"loss does, {SCORED}"
        )
    return (
        "labels shifted already (labels[:, t] = input_ids[:, t + 1]): scored as they are "
        f"({name}'s own loss would shift them again)"
    )
