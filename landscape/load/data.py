"""Load a data set: .pt, .npz, or a ``module:fn`` factory.

Files and (x, y) pairs are held in memory as full tensors; a Dataset or DataLoader from a
factory is streamed (`load.stream`): read batch by batch on every pass, never held whole."""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from landscape.errors import InputError
from landscape.inputs import Inputs, take
from landscape.load.common import corrupt
from landscape.load.convert import DATA_FIX, pair, sample_index, validate
from landscape.load.datasets import drain, sample_stream, stream_of
from landscape.load.factory import import_object, import_scope
from landscape.load.stream import Stream


def load_data(
    spec: str,
    samples: int | None = None,
    seed: int = 0,
    base_dir: Path | None = None,
    allow_code: bool = True,
    target: str | None = None,
) -> tuple[Inputs, Tensor]:
    """The data set named by ``spec`` as full tensors ``(x, y)`` (a streamed one read whole).

    ``x`` may be a dict of tensors (the model's keyword arguments), each with the examples
    along its first dimension. With ``target`` the data may instead be one flat dict (a file's
    dict, or each Dataset item or DataLoader batch) whose ``target`` entry is y and whose other
    entries are the inputs: a Hugging Face batch with ``target="labels"``.

    ``spec`` is a ``.pt`` file ({"x", "y"} dict, (x, y) pair or TensorDataset), a ``.npz`` file
    with arrays ``x`` and ``y``, or a factory ``module:fn`` / ``file.py:fn`` that returns an
    (x, y) pair, a Dataset or a DataLoader. A relative path resolves against ``base_dir`` when
    given (a spec from a checkpoint's metadata: the checkpoint's folder), else against the
    current directory, never both. ``samples`` keeps a random subset of that
    size (drawn with ``seed``, kept in data order; the first ``samples`` of an iterable-style
    source). Integer labels become int64; float targets keep their dtype. ``allow_code=False``
    (a spec read from inside a checkpoint that is not trusted) refuses factories: only data
    files, which load without running code.
    """
    x, y = open_data(spec, samples, seed, base_dir, allow_code, target)
    return drain(x) if isinstance(x, Stream) else (x, y)


def open_data(
    spec: str,
    samples: int | None = None,
    seed: int = 0,
    base_dir: Path | None = None,
    allow_code: bool = True,
    target: str | None = None,
) -> tuple[Inputs | Stream, Tensor | None]:
    """As `load_data`, but a Dataset or DataLoader from a factory (other than a
    TensorDataset, which is in memory already) comes back as a `Stream` (with y None): read
    batch by batch on every pass; ``samples`` selects its examples by index, reading no other.
    """
    spec = str(spec).strip()
    if not spec:
        raise InputError("the data spec is empty", "pass --data FILE.pt, FILE.npz or module:fn")
    path = _find(spec, base_dir)
    if path is not None:
        x, y = _load_file(path, target)
        origin = f"'{path}'"
    elif is_factory(spec):
        if not allow_code:
            raise InputError(
                f"the checkpoint asks for its data from the factory '{spec}', and code named "
                "inside a file is not run unless you trust the file",
                f"pass --data {spec} yourself, or --trust-checkpoint",
            )
        x, y = _from_factory(spec, base_dir, target)
        origin = f"factory '{spec}'"
        if isinstance(x, Stream):
            return (x if samples is None else sample_stream(x, samples, seed)), None
    else:
        where = f"'{base_dir}'" if base_dir is not None else "the current directory"
        raise InputError(
            f"data file '{spec}' not found in {where}",
            "check the path, or pass a factory as module:function",
        )
    x, y = validate(x, y, origin)
    if samples is not None:
        x, y = _subset(x, y, samples, seed, origin)
    return x, y


# ---------------------------------------------------------------- locating


def _find(spec: str, base_dir: Path | None) -> Path | None:
    """The file `spec` names: relative to `base_dir` when given (a spec from a checkpoint's
    metadata: beside the checkpoint), else to the current directory; never both."""
    path = Path(spec).expanduser()
    if not path.is_absolute():
        path = (Path(base_dir) if base_dir is not None else Path.cwd()) / path
    if not path.exists():
        return None
    if path.is_dir():
        raise InputError(f"data '{path}' is a directory", "point to a .pt or .npz file")
    return path


def is_factory(spec: str) -> bool:
    """Whether a data spec names code (``module:fn``, ``file.py:fn``) rather than a file."""
    if ":" not in spec:
        return False
    target = spec.rsplit(":", 1)[0]
    return not target.lower().endswith((".pt", ".pth", ".npz", ".npy"))


# ---------------------------------------------------------------- files


def _load_file(path: Path, target: str | None) -> tuple[Any, Any]:
    if not os.access(path, os.R_OK):
        raise InputError(f"data file '{path}' is not readable", "check the file's permissions")
    if path.stat().st_size == 0:
        raise InputError(f"data file '{path}' is empty", DATA_FIX)
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
    raise InputError(f"data file '{path}' has an unknown format (suffix '{path.suffix}')", DATA_FIX)


def _load_pt(path: Path, target: str | None) -> tuple[Any, Any]:
    try:
        with torch.serialization.safe_globals([TensorDataset]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        names = re.findall(r"GLOBAL ([\w.]+)", str(exc))
        if names:
            shown = ", ".join(dict.fromkeys(names))
            raise InputError(
                f"data file '{path}' holds pickled objects a safe load refuses ({shown})", DATA_FIX
            ) from exc
        raise corrupt(path, exc, "data file") from exc
    except Exception as exc:
        raise corrupt(path, exc, "data file") from exc

    if isinstance(obj, TensorDataset):
        return _from_tensor_dataset(obj, f"'{path}'")
    return pair(obj, f"data file '{path}'", "holds a", target)


def _load_npz(path: Path, target: str | None) -> tuple[Any, Any]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.files)
            if target is not None and target in keys:
                return pair({k: archive[k] for k in keys}, f"data file '{path}'", "holds", target)
            if "x" not in keys or "y" not in keys:
                raise InputError(
                    f"data file '{path}' has no arrays 'x' and 'y' (arrays: "
                    f"{', '.join(keys[:8]) or 'none'})",
                    "save it with numpy.savez(path, x=x, y=y), or name the target with `target`",
                    "target",
                )
            return archive["x"], archive["y"]
    except InputError:
        raise
    except Exception as exc:
        raise corrupt(path, exc, "data file") from exc


# ---------------------------------------------------------------- factories


def _from_factory(spec: str, base_dir: Path | None, target: str | None) -> tuple[Any, Any]:
    """(x, y) from what the factory returns, or (Stream, None) for a Dataset or DataLoader."""
    try:
        with import_scope():  # the factory's folder stays importable while it builds
            fn = import_object(spec, base_dir=base_dir)
            obj = fn()
    except InputError:
        raise
    except Exception as exc:
        raise InputError(
            f"data factory '{spec}' failed: {type(exc).__name__}: {exc}",
            "fix the factory; it is called with no arguments",
        ) from exc
    origin = f"factory '{spec}'"
    if isinstance(obj, TensorDataset):
        return _from_tensor_dataset(obj, origin)
    stream = stream_of(obj, origin, target)
    if stream is not None:
        return stream, None
    return pair(obj, f"data factory '{spec}'", "returned a", target)


def _from_tensor_dataset(ds: TensorDataset, origin: str) -> tuple[Tensor, Tensor]:
    if len(ds.tensors) != 2:
        raise InputError(
            f"the TensorDataset from {origin} has {len(ds.tensors)} tensors, expected 2 (x, y)",
            "build it as TensorDataset(x, y)",
        )
    return ds.tensors[0], ds.tensors[1]


def _subset(x: Inputs, y: Tensor, samples: int, seed: int, origin: str) -> tuple[Inputs, Tensor]:
    index = sample_index(y.shape[0], samples, seed, origin)
    return take(x, index), y[index]
