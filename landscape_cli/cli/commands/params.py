"""`landscape params`: list θ (no data needed)."""

from __future__ import annotations

from landscape_cli.cli.app import app, emit, log
from landscape_cli.cli.options import command
from landscape_cli.render.writers import Rendered, lazy


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
    from landscape_cli.analyses.params import list_params
    from landscape_cli.cli.session import open_model

    options, _, checkpoint, _, _ = open_model("params", cli, log)
    report = list_params(checkpoint.model, options["params"], str(options["model"]))
    emit(Rendered(report, lazy("terminal.params:params_view")), options)
