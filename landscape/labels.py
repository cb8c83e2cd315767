"""A causal language model's labels: Hugging Face's convention, or shifted already.

A Hugging Face causal LM (a class named `*ForCausalLM` or `*LMHeadModel`, or one whose
`loss_type` is "ForCausalLM") is given `labels = input_ids` (the ignored index at padding) and
shifts them itself: its loss scores the logits at position t against the label at t + 1, the
mean over the counted `labels[:, 1:]`. Labels may also come shifted already (labels[:, t] =
input_ids[:, t + 1]), to be scored as they are. Which of the two a data set holds is read from
the inputs' token ids (`input_ids`, or integer inputs of the labels' shape) over the whole data
set: labels equal to them wherever counted are Hugging Face's, labels equal to them moved by one
are shifted already. Labels that fit both (constant sequences) or neither, or inputs without
token ids, cannot be told apart: they are refused, and the caller says which.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from landscape.errors import InputError
from landscape.losses import CrossEntropy

AUTO, YES, NO = "auto", "yes", "no"
SCORED = "logits[:, :-1] scored against labels[:, 1:]"
SAY_WHICH = (
    "say which: shift_labels='yes' (labels = input_ids, shifted as the model's own loss does) "
    "or 'no' (labels shifted already, scored as they are)"
)


class LabelConvention(InputError):
    """The labels' convention cannot be told, or asked for and impossible: the user's word
    settles it (`forced`: shifting was asked for and these labels have no positions)."""

    def __init__(self, problem: str, fix: str = SAY_WHICH, forced: bool = False):
        super().__init__(problem, fix)
        self.forced = forced


def is_causal_lm(model: nn.Module) -> bool:
    """Whether the model shifts its labels itself, as Hugging Face's causal LMs do."""
    name = type(model).__name__
    if name.endswith(("ForCausalLM", "LMHeadModel")):
        return True
    try:
        return getattr(model, "loss_type", None) == "ForCausalLM"
    except Exception:  # a property of the user's that fails says nothing either way
        return False


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
    """Set `problem.loss.shift` as `mode` says ("auto": the model's own convention, told from
    the data; "yes"; "no") and return the line that says what was done (None: nothing to say).
    Raises `LabelConvention` where the labels cannot be told apart or not shifted."""
    mode, loss = str(mode), problem.loss
    if mode not in (AUTO, YES, NO):
        raise InputError(f"shift_labels must be auto, yes or no, got {mode!r}", SAY_WHICH)
    if isinstance(loss, CrossEntropy):
        loss.shift = False
    if mode == NO or (mode == AUTO and not is_causal_lm(problem.model)):
        return None
    y = problem.probe_batch().y
    if not (isinstance(loss, CrossEntropy) and not y.dtype.is_floating_point and y.ndim == 2):
        if mode == YES:
            raise LabelConvention(
                f"labels of shape {tuple(y.shape)} and dtype {y.dtype} ({loss.name}) have no "
                "sequence positions to shift (integer labels (N, T) with cross-entropy or nll)",
                "leave the labels as they are (shift_labels 'auto' or 'no')",
                forced=True,
            )
        return None  # a causal LM's other heads or losses: nothing to shift
    if mode == YES:
        loss.shift = True
        return f"labels shifted by one position as asked: {SCORED}"
    return _told_apart(problem, loss)


def _told_apart(problem, loss: CrossEntropy) -> str | None:
    totals = problem.batch_sum(lambda b: tally(b.x, b.y, loss.ignore_index))
    counted, own, following, unknown = (int(v) for v in totals.tolist())
    name = type(problem.model).__name__
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
    return "labels shifted already (labels[:, t] = input_ids[:, t + 1]): scored as they are"
