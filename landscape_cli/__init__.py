"""Deprecated alias of `landscape`, kept for one release: `import landscape_cli.x` gives the
module `landscape.x` itself (one module object under two names), with a DeprecationWarning."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves `landscape_cli.<path>` to the already importable `landscape.<path>`."""

    def find_spec(self, name, path=None, target=None):
        if name.startswith("landscape_cli."):
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        return None  # a placeholder; exec_module puts the real module in its place

    def exec_module(self, module) -> None:
        real = importlib.import_module("landscape" + module.__name__[len("landscape_cli") :])
        sys.modules[module.__name__] = real


warnings.warn(
    "the package `landscape_cli` is now `landscape`; `landscape_cli` goes in the next release",
    DeprecationWarning,
    stacklevel=2,
)
if not any(isinstance(f, _Alias) for f in sys.meta_path):
    sys.meta_path.insert(0, _Alias())
sys.modules[__name__] = importlib.import_module("landscape")
