"""torch.export archives (`.pt2`): loaded only with --trust-checkpoint (the caller checks),
run through `ExportedProgram.module()` with its train-mode ops and static shapes checked."""

from __future__ import annotations

import types
from pathlib import Path

import torch
from torch import nn

from landscape.errors import InputError
from landscape.load.common import corrupt, decode, first

PT2_METADATA_FILE = "landscape_metadata.json"  # extra file of an archive: our metadata
_TRAIN_OPS = {
    "aten.dropout.default": 2,
    "aten.alpha_dropout.default": 2,
    "aten.feature_dropout.default": 2,
    "aten.feature_alpha_dropout.default": 2,
    "aten.native_dropout.default": 2,
    "aten.batch_norm.default": 5,
    "aten._native_batch_norm_legit_functional.default": 5,
}
_RANDOM_OPS = ("aten.bernoulli", "aten.rand", "aten.randn", "aten.normal", "aten.randint")


def _train_mode_ops(module: nn.Module) -> list[str]:
    found = []
    for sub in module.modules():
        graph = getattr(sub, "graph", None)
        if not isinstance(graph, torch.fx.Graph):
            continue
        for node in graph.nodes:
            if node.op != "call_function":
                continue
            name = str(node.target)
            idx = _TRAIN_OPS.get(name)
            if idx is not None and len(node.args) > idx and node.args[idx] is True:
                found.append(name)
            elif name.startswith(_RANDOM_OPS) or name == "aten._native_batch_norm_legit.default":
                found.append(name)
    return sorted(set(found))


def _static_input_shapes(module: nn.Module) -> list[tuple | None]:
    shapes: list[tuple | None] = []
    for node in module.graph.nodes:
        if node.op != "placeholder":
            continue
        val = node.meta.get("val")
        shape = getattr(val, "shape", None)
        if shape is None:
            shapes.append(None)
        else:
            shapes.append(tuple(d if isinstance(d, int) else None for d in shape))
    return shapes


def _frozen_mode(self: nn.Module, mode: bool = True) -> nn.Module:
    return self  # an exported graph is fixed in the mode it was exported in (checked: eval)


def load_pt2(path: Path) -> tuple[nn.Module, dict]:
    extra = {PT2_METADATA_FILE: ""}
    try:
        program = torch.export.load(path, extra_files=extra)
        module = program.module()
    except Exception as exc:
        raise corrupt(path, exc) from exc
    metadata: dict = {}
    if extra.get(PT2_METADATA_FILE):
        decoded = decode(extra[PT2_METADATA_FILE])
        metadata = decoded if isinstance(decoded, dict) else {}
    ops = _train_mode_ops(module)
    if ops:
        raise InputError(
            f"'{path}' was exported in training mode (random or batch-statistics ops: "
            f"{first(ops, 3)}), so its loss is not a fixed function of the weights",
            "call model.eval() before torch.export.export",
        )
    # ExportedProgram.module() makes train()/eval() raise; the graph is already eval-mode.
    for sub in module.modules():
        sub.training = False
    module.train = types.MethodType(_frozen_mode, module)
    module.eval = types.MethodType(_frozen_mode, module)

    shapes = _static_input_shapes(module)

    def _check_shapes(mod: nn.Module, args: tuple, kwargs: dict) -> None:
        flat = torch.utils._pytree.tree_leaves((args, kwargs))
        if len(flat) != len(shapes):
            return
        for i, (arg, shape) in enumerate(zip(flat, shapes, strict=True)):
            if shape is None or not isinstance(arg, torch.Tensor):
                continue
            if arg.ndim != len(shape) or any(
                s is not None and s != a for s, a in zip(shape, arg.shape, strict=True)
            ):
                raise InputError(
                    f"'{path}' was exported for input {i} of shape {_shape_text(shape)}, "
                    f"got {tuple(arg.shape)}",
                    "export with dynamic_shapes, e.g. {0: torch.export.Dim('batch')} for the "
                    "batch dimension, or use a state dict and --model-factory",
                )

    module.register_forward_pre_hook(_check_shapes, with_kwargs=True)
    return module, metadata


def _shape_text(shape: tuple) -> str:
    return "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
