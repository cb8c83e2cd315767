"""Load a data set as full (x, y) tensors: .pt, .npz, or a ``module:fn`` factory."""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset

from landscape_cli.errors import InputError
from landscape_cli.load.checkpoint import _detail
from landscape_cli.load.factory import import_object

_DATA_FIX = "save {'x': x, 'y': y} with torch.save, or x and y arrays with numpy.savez"


def load_data(
    spec: str,
    samples: int | None = None,
    seed: int = 0,
    base_dir: Path | None = None,
    allow_code: bool = True,
) -> tuple[Tensor, Tensor]:
    """The data set named by ``spec`` as full tensors ``(x, y)``.

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
        x, y = _load_file(path)
        origin = f"'{path}'"
    elif _is_factory(spec):
        if not allow_code:
            raise InputError(
                f"the checkpoint asks for its data from the factory '{spec}', and code named "
                "inside a file is not run unless you trust the file",
                f"pass --data {spec} yourself, or --trust-checkpoint",
            )
        x, y = _from_factory(spec, base_dir)
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


def _load_file(path: Path) -> tuple[Any, Any]:
    if not os.access(path, os.R_OK):
        raise InputError(f"data file '{path}' is not readable", "check the file's permissions")
    if path.stat().st_size == 0:
        raise InputError(f"data file '{path}' is empty", _DATA_FIX)
    suffix = path.suffix.lower()
    if suffix not in (".pt", ".pth", ".npz"):
        suffix = _sniff(path)
    if suffix == ".npz":
        return _load_npz(path)
    return _load_pt(path)


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


def _load_pt(path: Path) -> tuple[Any, Any]:
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
        raise _corrupt(path, exc) from exc
    except Exception as exc:
        raise _corrupt(path, exc) from exc

    if isinstance(obj, TensorDataset):
        return _from_tensor_dataset(obj, f"'{path}'")
    if isinstance(obj, dict):
        if "x" in obj and "y" in obj:
            return obj["x"], obj["y"]
        keys = ", ".join(map(str, list(obj)[:8])) or "none"
        raise InputError(f"data file '{path}' has no 'x' and 'y' keys (keys: {keys})", _DATA_FIX)
    if isinstance(obj, tuple | list) and len(obj) == 2:
        return obj[0], obj[1]
    raise InputError(
        f"data file '{path}' holds a {type(obj).__name__}, not an (x, y) pair", _DATA_FIX
    )


def _load_npz(path: Path) -> tuple[Any, Any]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.files)
            if "x" not in keys or "y" not in keys:
                raise InputError(
                    f"data file '{path}' has no arrays 'x' and 'y' (arrays: "
                    f"{', '.join(keys[:8]) or 'none'})",
                    "save it with numpy.savez(path, x=x, y=y)",
                )
            return archive["x"], archive["y"]
    except InputError:
        raise
    except Exception as exc:
        raise _corrupt(path, exc) from exc


def _corrupt(path: Path, exc: BaseException) -> InputError:
    detail = _detail(exc)
    return InputError(
        f"data file '{path}' could not be read ({type(exc).__name__}: {detail}); "
        "it may be corrupt or truncated",
        "save or copy it again",
    )


# ---------------------------------------------------------------- factories


def _from_factory(spec: str, base_dir: Path | None) -> tuple[Any, Any]:
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
        return _from_batches(obj, origin)
    if isinstance(obj, TensorDataset):
        return _from_tensor_dataset(obj, origin)
    if isinstance(obj, Dataset | IterableDataset):
        return _from_items(obj, origin)
    if isinstance(obj, dict) and "x" in obj and "y" in obj:
        return obj["x"], obj["y"]
    if isinstance(obj, tuple | list) and len(obj) == 2:
        return obj[0], obj[1]
    raise InputError(
        f"data factory '{spec}' returned a {type(obj).__name__}",
        "return an (x, y) pair of tensors, a Dataset of (x, y) items, or a DataLoader",
    )


def _from_tensor_dataset(ds: TensorDataset, origin: str) -> tuple[Tensor, Tensor]:
    if len(ds.tensors) != 2:
        raise InputError(
            f"the TensorDataset from {origin} has {len(ds.tensors)} tensors, expected 2 (x, y)",
            "build it as TensorDataset(x, y)",
        )
    return ds.tensors[0], ds.tensors[1]


def _pair(item: Any, origin: str, what: str) -> tuple[Any, Any]:
    if isinstance(item, dict) and "x" in item and "y" in item:
        return item["x"], item["y"]
    if isinstance(item, tuple | list) and len(item) == 2:
        return item[0], item[1]
    raise InputError(
        f"{origin} yields {what} of type {type(item).__name__}, not an (x, y) pair",
        "make each item (or batch) a pair (x, y)",
    )


def _from_items(ds: Iterable, origin: str) -> tuple[Tensor, Tensor]:
    xs, ys = [], []
    try:
        items = (
            (ds[i] for i in range(len(ds)))  # type: ignore[index, arg-type]
            if not isinstance(ds, IterableDataset) and hasattr(ds, "__len__")
            else iter(ds)
        )
        for item in items:
            x, y = _pair(item, origin, "items")
            xs.append(_tensor(x, origin, "x"))
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


def _from_batches(loader: DataLoader, origin: str) -> tuple[Tensor, Tensor]:
    xs, ys = [], []
    try:
        for batch in loader:
            x, y = _pair(batch, origin, "batches")
            xs.append(_tensor(x, origin, "x"))
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
    xs = [t.reshape(1) if t.ndim == 0 else t for t in xs]
    ys = [t.reshape(1) if t.ndim == 0 else t for t in ys]
    return _stack(xs, origin, "x", torch.cat), _stack(ys, origin, "y", torch.cat)


def _stack(parts: list[Tensor], origin: str, name: str, op: Any) -> Tensor:
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


def _validate(x: Any, y: Any, origin: str) -> tuple[Tensor, Tensor]:
    x = _tensor(x, origin, "x")
    y = _tensor(y, origin, "y")
    if x.ndim == 0 or y.ndim == 0:
        raise InputError(
            f"data from {origin} has a scalar {'x' if x.ndim == 0 else 'y'}",
            "give one row per example (the first dimension indexes examples)",
        )
    if x.shape[0] == 0 or y.shape[0] == 0:
        raise InputError(f"data from {origin} is empty (0 examples)", "pass a non-empty data set")
    if x.shape[0] != y.shape[0]:
        raise InputError(
            f"data from {origin} has {x.shape[0]} inputs but {y.shape[0]} targets",
            "give x and y the same number of examples",
        )
    if x.dtype == torch.bool or x.is_complex():
        raise InputError(f"x from {origin} has dtype {x.dtype}", "use float or integer inputs")
    if y.is_complex():
        raise InputError(f"y from {origin} has dtype {y.dtype}", "use integer or float targets")
    if not y.is_floating_point():
        y = y.long()  # integer (or bool) labels
    for name, t in (("x", x), ("y", y)):
        if t.is_floating_point():
            bad = (~torch.isfinite(t)).sum().item()
            if bad:
                raise InputError(
                    f"{name} from {origin} has {bad} non-finite values (NaN or inf)",
                    "clean or impute the data",
                )
    return x, y


def _subset(x: Tensor, y: Tensor, samples: int, seed: int, origin: str) -> tuple[Tensor, Tensor]:
    n = x.shape[0]
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise InputError(f"--samples must be a positive integer, got {samples!r}", "pass N >= 1")
    if samples > n:
        raise InputError(
            f"--samples {samples} is more than the {n} examples in data from {origin}",
            f"pass --samples {n} or fewer (or leave it out to use all)",
        )
    generator = torch.Generator().manual_seed(int(seed))
    index = torch.randperm(n, generator=generator)[:samples].sort().values
    return x[index], y[index]
