"""Griffe extension for the Python reference: the library's calls get their signatures at run
time (`landscape.api.keywords.keywords` builds them from the one table of defaults), so the
signature read from the source, `fn(model, data, loss, opt)`, is replaced by the real one."""

from __future__ import annotations

import importlib
import inspect

import griffe

KINDS = {
    inspect.Parameter.POSITIONAL_ONLY: griffe.ParameterKind.positional_only,
    inspect.Parameter.POSITIONAL_OR_KEYWORD: griffe.ParameterKind.positional_or_keyword,
    inspect.Parameter.VAR_POSITIONAL: griffe.ParameterKind.var_positional,
    inspect.Parameter.KEYWORD_ONLY: griffe.ParameterKind.keyword_only,
    inspect.Parameter.VAR_KEYWORD: griffe.ParameterKind.var_keyword,
}


class RuntimeSignatures(griffe.Extension):
    def on_function_instance(self, *, func: griffe.Function, **kwargs) -> None:
        if not func.path.startswith("landscape.api."):
            return
        obj = _runtime(func.path)
        if obj is None or not hasattr(_unwrapped(obj), "__signature__"):
            return
        signature = inspect.signature(obj)
        func.parameters = griffe.Parameters(
            *(
                griffe.Parameter(
                    p.name,
                    kind=KINDS[p.kind],
                    default=None if p.default is inspect.Parameter.empty else repr(p.default),
                )
                for p in signature.parameters.values()
            )
        )


def _unwrapped(obj):
    return inspect.unwrap(obj, stop=lambda f: hasattr(f, "__signature__"))


def _runtime(path: str):
    """The object at a module-level dotted path, or None (methods and nested names: None)."""
    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None
