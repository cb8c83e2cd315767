"""The terminal view of `landscape params`."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from landscape.analyses.params import ParamsReport
from landscape.render.terminal.common import mark


def params_view(r: ParamsReport) -> RenderableType:
    table = Table(title=f"Parameters of {r.model}", title_justify="left")
    for col, justify in (("name", "left"), ("shape", "right"), ("size", "right")):
        table.add_column(col, justify=justify, no_wrap=True)
    table.add_column("block", justify="left", no_wrap=True)
    table.add_column("in θ", justify="center")
    table.add_column("trainable", justify="center")
    for e in r.parameters:
        shape = "×".join(map(str, e.shape)) or "scalar"
        table.add_row(
            e.name, shape, f"{e.numel:,}", e.block, mark(e.selected), mark(e.requires_grad)
        )
    chosen = f"--params {r.pattern!r}" if r.pattern else "the parameters that require grad"
    summary = Text(
        f"θ: {r.selected_tensors} of {r.num_tensors} tensors, {r.selected_params:,} of "
        f"{r.num_params:,} parameters ({chosen}); --per-layer takes {len(r.blocks)} blocks: "
        + ", ".join(f"{b.name} ({b.num_params:,})" for b in r.blocks)
    )
    return Group(table, summary)
