"""`landscape params`: what θ is. Every parameter's name, shape and size, whether `--params`
selects it, and the blocks `--per-layer` uses (one per module of the selected parameters)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from landscape.problem import blocks_of, select_params
from landscape.report import Report


@dataclass(frozen=True)
class ParamEntry:
    name: str
    shape: list[int]
    numel: int
    block: str  # the module it belongs to (its --per-layer block when selected)
    selected: bool
    requires_grad: bool


@dataclass(frozen=True)
class BlockEntry:
    name: str
    num_params: int


@dataclass(frozen=True, kw_only=True)
class ParamsReport(Report):
    command: str = "params"
    model: str
    pattern: str | None
    num_tensors: int
    num_params: int
    selected_tensors: int
    selected_params: int
    parameters: list[ParamEntry]
    blocks: list[BlockEntry]  # of the selected parameters, as --per-layer takes them


def list_params(model: nn.Module, pattern: str | None, model_name: str) -> ParamsReport:
    chosen = {name for name, _ in select_params(model, pattern)}
    named = list(model.named_parameters())
    entries = [
        ParamEntry(
            name,
            list(p.shape),
            p.numel(),
            name.rpartition(".")[0] or name,
            name in chosen,
            p.requires_grad,
        )
        for name, p in named
    ]
    picked = [e for e in entries if e.selected]
    blocks = blocks_of([e.name for e in picked], [e.numel for e in picked])
    return ParamsReport(
        model=model_name,
        pattern=pattern,
        num_tensors=len(entries),
        num_params=sum(e.numel for e in entries),
        selected_tensors=len(picked),
        selected_params=sum(e.numel for e in picked),
        parameters=entries,
        blocks=[BlockEntry(b.name, b.size) for b in blocks],
    )
