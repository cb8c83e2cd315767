"""`landscape params`: list θ (no data needed)."""

from __future__ import annotations

from landscape.cli.app import app
from landscape.cli.options import command
from landscape.cli.output import emit, log
from landscape.render.writers import Rendered, lazy


@command(
    app,
    "params",
    examples=(
        "landscape params",
        r"landscape params model.pt --model-factory mypkg:build --params '^head\.'",
    ),
)
def params(cli: dict) -> None:
    """List the model's parameters (names, shapes, sizes, blocks) and what --params selects."""
    from landscape.analyses.params import list_params
    from landscape.cli.session import open_model

    options, _, checkpoint, _, _ = open_model("params", cli, log)
    report = list_params(checkpoint.model, options["params"], str(options["model"]))
    emit(Rendered(report, lazy("terminal.params:params_view")), options)
