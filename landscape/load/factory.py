"""Import a callable named by a spec: ``package.module:fn`` or ``path/to/file.py:fn``."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from landscape.errors import InputError

_FILE_MODULES: dict[Path, ModuleType] = {}
_SCOPE_DEPTH = 0

_FORM_FIX = "write it as package.module:function or path/to/file.py:function"


def looks_like_file(target: str) -> bool:
    return target.endswith(".py") or "/" in target or "\\" in target


@contextmanager
def import_scope() -> Iterator[None]:
    """What the body adds to ``sys.path`` (to import a file's neighbours, or a module from a
    folder) is taken off again at its end; scopes nest (the outermost restores), so a caller
    can keep a factory's folder importable while it calls the factory."""
    global _SCOPE_DEPTH
    if _SCOPE_DEPTH:
        yield
        return
    saved = list(sys.path)
    _SCOPE_DEPTH += 1
    try:
        yield
    finally:
        _SCOPE_DEPTH -= 1
        sys.path[:] = saved


def _find_file(target: str, base_dir: Path | None) -> Path | None:
    """`target` relative to `base_dir` when given (a spec from a checkpoint: beside it), else
    to the current directory (what the user typed resolves where the user is); never both."""
    path = Path(target).expanduser()
    if not path.is_absolute():
        path = (Path(base_dir) if base_dir is not None else Path.cwd()) / path
    return path.resolve() if path.is_file() else None


def _import_file(path: Path, spec: str) -> ModuleType:
    if path in _FILE_MODULES:
        return _FILE_MODULES[path]
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
    name = f"_landscape_file_{path.stem.replace('-', '_')}_{digest}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise InputError(f"cannot import '{path}' from '{spec}'", "point to a Python source file")
    module = importlib.util.module_from_spec(module_spec)
    # Like running a script: the file's folder is importable (for the import scope), so it can
    # import its neighbours.
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise InputError(
            f"importing '{path}' (from '{spec}') failed: {type(exc).__name__}: {exc}",
            "fix the error in that file",
        ) from exc
    _FILE_MODULES[path] = module
    return module


def _import_module(target: str, spec: str, base_dir: Path | None) -> ModuleType:
    # The console script does not put the current folder on the import path: it is tried too,
    # and a spec from a checkpoint may also name a module beside the checkpoint.
    extra = [str(Path.cwd())]
    if base_dir is not None:
        extra.append(str(Path(base_dir).resolve()))
    tried: list[str] = []
    while True:
        try:
            return importlib.import_module(target)
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            if not (target == missing or target.startswith(missing + ".")):
                raise InputError(
                    f"importing '{target}' (from '{spec}') failed: {exc}",
                    f"install the package '{missing.split('.')[0]}' that it needs",
                ) from exc
            new = [d for d in extra if d not in sys.path and d not in tried]
            if not new:
                raise InputError(
                    f"no module named '{missing}' (from '{spec}')",
                    "check the spelling, install the package, or run from the folder that "
                    "contains it (a file works too: path/to/file.py:function)",
                ) from exc
            tried.append(new[0])
            sys.path.append(new[0])
        except Exception as exc:
            raise InputError(
                f"importing '{target}' (from '{spec}') failed: {type(exc).__name__}: {exc}",
                "fix the error in that module",
            ) from exc


def import_object(spec: str, base_dir: Path | None = None) -> Callable:
    """The callable named by ``spec``.

    ``spec`` is ``package.module:attr`` or ``path/to/file.py:attr``; ``attr`` may be dotted
    (``Class.method``). A relative file path resolves against ``base_dir`` when given (a spec
    from a checkpoint's metadata: beside the checkpoint), else against the current directory;
    a module not on the import path is looked for in the current directory (and ``base_dir``).
    ``sys.path`` is as it was afterwards (see `import_scope`). Any failure raises InputError.
    """
    with import_scope():
        return _import_object(spec, base_dir)


def _import_object(spec: str, base_dir: Path | None) -> Callable:
    if not isinstance(spec, str) or ":" not in spec:
        raise InputError(f"'{spec}' is not of the form module:function", _FORM_FIX)
    target, attr = spec.rsplit(":", 1)
    target, attr = target.strip(), attr.strip()
    if not target or not attr:
        raise InputError(f"'{spec}' is not of the form module:function", _FORM_FIX)

    if looks_like_file(target):
        path = _find_file(target, base_dir)
        if path is None:
            where = f"'{base_dir}'" if base_dir is not None else "the current directory"
            raise InputError(
                f"file '{target}' (from '{spec}') not found in {where}",
                "check the path, or give an absolute one",
            )
        module = _import_file(path, spec)
    else:
        module = _import_module(target, spec, base_dir)

    obj: object = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = sorted(
                n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
            )
            shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
            raise InputError(
                f"'{target}' has no attribute '{attr}' (from '{spec}')",
                f"name one of its callables: {shown}" if names else "check the name",
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise InputError(
            f"'{spec}' is a {type(obj).__name__}, not a callable",
            "name a function or class that builds the object",
        )
    return obj
