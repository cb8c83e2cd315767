"""Load a data set as full (x, y) tensors: .pt, .npz, or a ``module:fn`` factory."""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset

from landscape_cli.errors import InputError
from landscape_cli.inputs import Inputs, take
from landscape_cli.load.common import corrupt
from landscape_cli.load.factory import import_object

_DATA_FIX = "save {'x': x, 'y': y} with torch.save, or x and y arrays with numpy.savez"


def load_data(
    spec: str,
    samples: int | None = None,
    seed: int = 0,
    base_dir: Path | None = None,
    allow_code: bool = True,
    target: str | None = None,
) -> tuple[Inputs, Tensor]:
    """The data set named by ``spec`` as full tensors ``(x, y)``.

    ``x`` may be a dict of tensors (the model's keyword arguments), each with the examples
    along its first dimension. With ``target`` the data may instead be one flat dict (a file's
    dict, or each Dataset item or DataLoader batch) whose ``target`` entry is y and whose other
    entries are the inputs: a Hugging Face batch with ``target="labels"``.

    ``spec`` is a ``.pt`` file ({"x", "y"} dict, (x, y) pair or TensorDataset), a ``.npz`` file
    with arrays ``x`` and ``y``, or a factory ``module:fn`` / ``file.py:fn`` that returns an
    (x, y) pair, a Dataset or a DataLoader. A relative path resolves against ``base_dir`` when
    the file is there, else the current directory. ``samples`` keeps a random subset of that
    size (drawn with ``seed``, kept in data order). Integer labels become int64; float targets
    keep their dtype. ``allow_code=False`` (a spec read from inside a checkpoint that is not
    trusted) refuses factories: only data files, which load without running code.
    """
    spec = str(spec).strip()
    if not spec:
        raise InputError("the data spec is empty", "pass --data FILE.pt, FILE.npz or module:fn")
    path = _find(spec, base_dir)
    if path is not None:
        x, y = _load_file(path, target)
        origin = f"'{path}'"
    elif _is_factory(spec):
        if not allow_code:
            raise InputError(
                f"the checkpoint asks for its data from the factory '{spec}', and code named "
                "inside a file is not run unless you trust the file",
                f"pass --data {spec} yourself, or --trust-checkpoint",
            )
        x, y = _from_factory(spec, base_dir, target)
        origin = f"factory '{spec}'"
    else:
        where = "the current directory" + (f" or {base_dir}" if base_dir else "")
        raise InputError(
            f"data file '{spec}' not found in {where}",
            "check the path, or pass a factory as module:function",
        )
    x, y = _validate(x, y, origin)
    if samples is not None:
        x, y = _subset(x, y, samples, seed, origin)
    return x, y


# ---------------------------------------------------------------- locating


def _find(spec: str, base_dir: Path | None) -> Path | None:
    path = Path(spec).expanduser()
    candidates = [path] if path.is_absolute() else [Path.cwd() / path]
    if base_dir is not None and not path.is_absolute():
        candidates.insert(0, Path(base_dir) / path)
    for candidate in candidates:
        if candidate.exists():
            if candidate.is_dir():
                raise InputError(
                    f"data '{candidate}' is a directory", "point to a .pt or .npz file"
                )
            return candidate
    return None


def _is_factory(spec: str) -> bool:
    if ":" not in spec:
        return False
    target = spec.rsplit(":", 1)[0]
    return not target.lower().endswith((".pt", ".pth", ".npz", ".npy"))


# ---------------------------------------------------------------- files


def _load_file(path: Path, target: str | None) -> tuple[Any, Any]:
    if not os.access(path, os.R_OK):
        raise InputError(f"data file '{path}' is not readable", "check the file's permissions")
    if path.stat().st_size == 0:
        raise InputError(f"data file '{path}' is empty", _DATA_FIX)
    suffix = path.suffix.lower()
    if suffix not in (".pt", ".pth", ".npz"):
        suffix = _sniff(path)
    if suffix == ".npz":
        return _load_npz(path, target)
    return _load_pt(path, target)


def _sniff(path: Path) -> str:
    try:
        if zipfile.is_zipfile(path):
            names = zipfile.ZipFile(path).namelist()
            if any(n.endswith(".npy") for n in names):
                return ".npz"
            if any(n.endswith("data.pkl") for n in names):
                return ".pt"
    except OSError as exc:
        raise InputError(f"cannot read data file '{path}': {exc}", "check the file") from exc
    raise InputError(
        f"data file '{path}' has an unknown format (suffix '{path.suffix}')", _DATA_FIX
    )


def _load_pt(path: Path, target: str | None) -> tuple[Any, Any]:
    try:
        with torch.serialization.safe_globals([TensorDataset]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        names = re.findall(r"GLOBAL ([\w.]+)", str(exc))
        if names:
            shown = ", ".join(dict.fromkeys(names))
            raise InputError(
                f"data file '{path}' holds pickled objects a safe load refuses ({shown})", _DATA_FIX
            ) from exc
        raise corrupt(path, exc, "data file") from exc
    except Exception as exc:
        raise corrupt(path, exc, "data file") from exc

    if isinstance(obj, TensorDataset):
        return _from_tensor_dataset(obj, f"'{path}'")
    return _pair(obj, f"data file '{path}'", "holds a", target)


def _load_npz(path: Path, target: str | None) -> tuple[Any, Any]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.files)
            if target is not None and target in keys:
                return _pair({k: archive[k] for k in keys}, f"data file '{path}'", "holds", target)
            if "x" not in keys or "y" not in keys:
                raise InputError(
                    f"data file '{path}' has no arrays 'x' and 'y' (arrays: "
                    f"{', '.join(keys[:8]) or 'none'})",
                    "save it with numpy.savez(path, x=x, y=y), or name the target with --target",
                )
            return archive["x"], archive["y"]
    except InputError:
        raise
    except Exception as exc:
        raise corrupt(path, exc, "data file") from exc


# ---------------------------------------------------------------- factories


def _from_factory(spec: str, base_dir: Path | None, target: str | None) -> tuple[Any, Any]:
    fn = import_object(spec, base_dir=base_dir)
    try:
        obj = fn()
    except InputError:
        raise
    except Exception as exc:
        raise InputError(
            f"data factory '{spec}' failed: {type(exc).__name__}: {exc}",
            "fix the factory; it is called with no arguments",
        ) from exc
    origin = f"factory '{spec}'"
    if isinstance(obj, DataLoader):
        return _from_batches(obj, origin, target)
    if isinstance(obj, TensorDataset):
        return _from_tensor_dataset(obj, origin)
    if isinstance(obj, Dataset | IterableDataset):
        return _from_items(obj, origin, target)
    return _pair(obj, f"data factory '{spec}'", "returned a", target)


def _from_tensor_dataset(ds: TensorDataset, origin: str) -> tuple[Tensor, Tensor]:
    if len(ds.tensors) != 2:
        raise InputError(
            f"the TensorDataset from {origin} has {len(ds.tensors)} tensors, expected 2 (x, y)",
            "build it as TensorDataset(x, y)",
        )
    return ds.tensors[0], ds.tensors[1]


def _pair(item: Any, origin: str, what: str, target: str | None) -> tuple[Any, Any]:
    """(x, y) from an (x, y) pair, an {"x", "y"} dict, or a flat dict with its `target` entry
    as y and the other entries as the inputs (keyword arguments of the model). `what` words
    the item in messages: "holds a", "returned a", "yields an item", "yields a batch"."""
    if isinstance(item, Mapping):
        if target is not None and target in item:
            return {str(k): v for k, v in item.items() if k != target}, item[target]
        if target is None and "x" in item and "y" in item:
            return item["x"], item["y"]
        keys = ", ".join(map(str, list(item)[:8])) or "none"
        if target is None:
            raise InputError(
                f"{origin} has no 'x' and 'y' keys (keys: {keys})",
                f"{_DATA_FIX}, or name the target entry of a flat dict with --target KEY",
            )
        raise InputError(f"{origin} has no '{target}' key (keys: {keys})", "check --target")
    if isinstance(item, tuple | list) and len(item) == 2:
        return item[0], item[1]
    raise InputError(
        f"{origin} {what} {type(item).__name__}, not an (x, y) pair",
        "give a pair (x, y), an {'x': x, 'y': y} dict, or a dict of inputs with --target KEY",
    )


def _from_items(ds: Iterable, origin: str, target: str | None) -> tuple[Inputs, Tensor]:
    xs, ys = [], []
    try:
        items = (
            (ds[i] for i in range(len(ds)))  # type: ignore[index, arg-type]
            if not isinstance(ds, IterableDataset) and hasattr(ds, "__len__")
            else iter(ds)
        )
        for item in items:
            x, y = _pair(item, origin, "yields an item of type", target)
            xs.append(_inputs(x, origin))
            ys.append(_tensor(y, origin, "y"))
    except InputError:
        raise
    except Exception as exc:
        raise InputError(
            f"reading the Dataset from {origin} failed: {type(exc).__name__}: {exc}",
            "fix the Dataset",
        ) from exc
    if not xs:
        raise InputError(f"the Dataset from {origin} is empty", "return a non-empty data set")
    return _stack(xs, origin, "x", torch.stack), _stack(ys, origin, "y", torch.stack)


def _from_batches(loader: DataLoader, origin: str, target: str | None) -> tuple[Inputs, Tensor]:
    xs, ys = [], []
    try:
        for batch in loader:
            x, y = _pair(batch, origin, "yields a batch of type", target)
            xs.append(_inputs(x, origin))
            ys.append(_tensor(y, origin, "y"))
    except InputError:
        raise
    except Exception as exc:
        raise InputError(
            f"iterating the DataLoader from {origin} failed: {type(exc).__name__}: {exc}",
            "fix the DataLoader",
        ) from exc
    if not xs:
        raise InputError(f"the DataLoader from {origin} is empty", "return a non-empty data set")
    xs = [_at_least_1d(t) for t in xs]
    ys = [_at_least_1d(t) for t in ys]
    return _stack(xs, origin, "x", torch.cat), _stack(ys, origin, "y", torch.cat)


def _at_least_1d(x: Inputs) -> Inputs:
    if isinstance(x, Mapping):
        return {k: _at_least_1d(v) for k, v in x.items()}
    return x.reshape(1) if x.ndim == 0 else x


def _stack(parts: list, origin: str, name: str, op: Any) -> Inputs:
    if isinstance(parts[0], Mapping):
        return {k: _stack([p[k] for p in parts], origin, f"{name}[{k!r}]", op) for k in parts[0]}
    try:
        return op(parts)
    except RuntimeError as exc:
        raise InputError(
            f"the {name} values from {origin} do not stack into one tensor "
            f"({str(exc).splitlines()[0][:120]})",
            "make every example the same shape",
        ) from exc


# ---------------------------------------------------------------- checks


def _tensor(value: Any, origin: str, name: str) -> Tensor:
    if isinstance(value, Tensor):
        return value.detach().cpu()
    try:
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                raise TypeError("object arrays are not supported")
            return torch.from_numpy(np.ascontiguousarray(value))
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InputError(
            f"{name} from {origin} is a {type(value).__name__} that does not convert to a tensor "
            f"({exc})",
            "use tensors or numeric arrays",
        ) from exc


def _inputs(x: Any, origin: str) -> Inputs:
    """x as a tensor, or a dict of tensors (keyword inputs)."""
    if isinstance(x, Mapping):
        if not x:
            raise InputError(f"x from {origin} is an empty dict", "give the model's inputs")
        return {str(k): _tensor(v, origin, f"x[{k!r}]") for k, v in x.items()}
    return _tensor(x, origin, "x")


def _validate(x: Any, y: Any, origin: str) -> tuple[Inputs, Tensor]:
    x = _inputs(x, origin)
    y = _tensor(y, origin, "y")
    entries = x.items() if isinstance(x, Mapping) else [("x", x)]
    if any(t.ndim == 0 for _, t in entries) or y.ndim == 0:
        raise InputError(
            f"data from {origin} has a scalar {'y' if y.ndim == 0 else 'x'}",
            "give one row per example (the first dimension indexes examples)",
        )
    if y.shape[0] == 0 or any(t.shape[0] == 0 for _, t in entries):
        raise InputError(f"data from {origin} is empty (0 examples)", "pass a non-empty data set")
    for name, t in entries:
        if t.shape[0] != y.shape[0]:
            raise InputError(
                f"data from {origin} has {t.shape[0]} inputs"
                + (f" in x[{name!r}]" if isinstance(x, Mapping) else "")
                + f" but {y.shape[0]} targets",
                "give x and y the same number of examples",
            )
        if t.dtype == torch.bool or t.is_complex():
            raise InputError(
                f"{name} from {origin} has dtype {t.dtype}", "use float or integer inputs"
            )
    if y.is_complex():
        raise InputError(f"y from {origin} has dtype {y.dtype}", "use integer or float targets")
    if not y.is_floating_point():
        y = y.long()  # integer (or bool) labels
    for name, t in [*entries, ("y", y)]:
        if t.is_floating_point():
            bad = (~torch.isfinite(t)).sum().item()
            if bad:
                raise InputError(
                    f"{name} from {origin} has {bad} non-finite values (NaN or inf)",
                    "clean or impute the data",
                )
    return x, y


def _subset(x: Inputs, y: Tensor, samples: int, seed: int, origin: str) -> tuple[Inputs, Tensor]:
    n = y.shape[0]
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise InputError(f"--samples must be a positive integer, got {samples!r}", "pass N >= 1")
    if samples > n:
        raise InputError(
            f"--samples {samples} is more than the {n} examples in data from {origin}",
            f"pass --samples {n} or fewer (or leave it out to use all)",
        )
    generator = torch.Generator().manual_seed(int(seed))
    index = torch.randperm(n, generator=generator)[:samples].sort().values
    return take(x, index), y[index]
