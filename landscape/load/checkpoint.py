"""Load a model from a checkpoint: state dict (+ factory), safetensors, torch.export, pickle."""

from __future__ import annotations

import json
import os
import pickle
import re
import struct
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from landscape.checks import check_state_tensors
from landscape.errors import InputError
from landscape.load.common import corrupt, decode, first
from landscape.load.export import load_pt2
from landscape.load.factory import import_object, import_scope

WRAPPER_KEYS = ("state_dict", "model_state_dict", "model")
STRIP_PREFIXES = ("module.", "_orig_mod.")
TORCH_SUFFIXES = {".pt", ".pth", ".bin", ".ckpt", ".tar"}

_TRUST_FIX = "if you trust the file, pass --trust-checkpoint (it runs code from the file)"


@dataclass
class LoadedCheckpoint:
    model: nn.Module  # in eval mode
    metadata: dict  # the wrapper's keys other than the weights; {} if none
    path: Path
    from_factory: list[str] = field(default_factory=list)  # `partial`: what the file lacked
    kwargs_from_metadata: dict = field(default_factory=dict)  # the metadata's kwargs it took


def load_checkpoint(
    path: str | Path,
    factory: str | None = None,
    factory_kwargs: dict | None = None,
    trust: bool = False,
    partial: bool = False,
) -> LoadedCheckpoint:
    """Load the model in ``path`` (on the CPU, in eval mode, parameters in their saved dtype).

    ``factory`` (``module:fn`` or ``file.py:fn``) builds the model for a state dict and
    overrides the checkpoint's ``factory`` metadata; ``factory_kwargs`` are merged over the
    metadata's ``factory_kwargs`` (the argument wins). ``trust`` allows full unpickling.
    ``partial`` loads a state dict that holds only some of the model's tensors (fine-tuned
    layers) over the factory's own weights; `from_factory` lists the tensors it kept.
    """
    path = _check_file(path)
    kind = _kind(path)
    if kind == "pt2":
        if not zipfile.is_zipfile(path):
            raise InputError(
                f"checkpoint '{path}' is not a complete torch.export archive (no zip directory); "
                "it may be corrupt or truncated",
                "save or copy it again",
            )
        if not trust:
            raise InputError(
                f"'{path}' is a torch.export archive, and loading one can run code from the "
                "file (torch.export.load unpickles parts of it and evaluates expressions in it)",
                "if you trust the file, pass --trust-checkpoint; otherwise save "
                "model.state_dict() (.pt or .safetensors) and pass --model-factory",
            )
        model, metadata = load_pt2(path)
        return LoadedCheckpoint(model=model, metadata=metadata, path=path)
    if kind == "safetensors":
        obj, metadata = _load_safetensors(path)
    else:
        obj = _torch_load(path, trust)
        obj, metadata = _unwrap(obj, path, trust)

    if isinstance(obj, nn.Module):
        obj.eval()
        return LoadedCheckpoint(model=obj, metadata=metadata, path=path)
    state = _strip_prefixes(obj)
    model = _build(path, metadata, factory, factory_kwargs, trust)
    meta_factory, meta_kwargs = _metadata_factory(metadata)
    spec = factory or meta_factory
    kept = _load_state(model, state, path, spec, partial)
    model.eval()
    taken = meta_kwargs if factory is None or factory == meta_factory else {}
    return LoadedCheckpoint(
        model=model,
        metadata=metadata,
        path=path,
        from_factory=kept,
        kwargs_from_metadata={k: v for k, v in taken.items() if k not in (factory_kwargs or {})},
    )


# ---------------------------------------------------------------- files and formats


def _check_file(path: str | Path) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"checkpoint '{path}' not found", "check the path")
    if path.is_dir():
        raise InputError(
            f"checkpoint '{path}' is a directory", "point to a .pt, .pth, .safetensors or .pt2 file"
        )
    if not os.access(path, os.R_OK):
        raise InputError(f"checkpoint '{path}' is not readable", "check the file's permissions")
    if path.stat().st_size == 0:
        raise InputError(f"checkpoint '{path}' is empty", "save the checkpoint again")
    return path


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".pt2":
        return "pt2"
    if suffix == ".safetensors":
        return "safetensors"
    if suffix in TORCH_SUFFIXES:
        return "pt2" if _sniff(path) == "pt2" else "torch"
    sniffed = _sniff(path)
    if sniffed is None:
        raise InputError(
            f"checkpoint '{path}' has an unknown format (suffix '{suffix}')",
            "save it with torch.save (.pt), safetensors (.safetensors) or torch.export (.pt2)",
        )
    return sniffed


def _sniff(path: Path) -> str | None:
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if zipfile.is_zipfile(f):
                names = zipfile.ZipFile(f).namelist()
                if any(n.endswith("/archive_format") or n == "archive_format" for n in names):
                    return "pt2"
                if any(n.endswith("data.pkl") for n in names):
                    return "torch"
                return None
            if len(head) == 8:
                (n,) = struct.unpack("<Q", head)
                if 0 < n < 100_000_000:
                    f.seek(8)
                    if f.read(1) == b"{":
                        return "safetensors"
    except OSError as exc:
        raise InputError(f"cannot read checkpoint '{path}': {exc}", "check the file") from exc
    if head[:1] == b"\x80":  # a pickle protocol marker: the legacy torch.save format
        return "torch"
    return None


def _blocking_globals(path: Path, exc: BaseException) -> list[str]:
    try:
        names = list(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:
        names = []
    if not names:
        names = re.findall(r"GLOBAL ([\w.]+)", str(exc))
    return sorted(dict.fromkeys(names))


def _torch_load(path: Path, trust: bool) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        names = _blocking_globals(path, exc) if "Weights only load failed" in str(exc) else []
        if not names and not trust:
            raise corrupt(path, exc) from exc
        if not trust:
            shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
            raise InputError(
                f"checkpoint '{path}' holds pickled objects that a safe load refuses ({shown})",
                _TRUST_FIX + ", or save model.state_dict() instead",
            ) from exc
    except Exception as exc:
        raise corrupt(path, exc) from exc
    try:
        with import_scope():
            _importable_from(Path.cwd(), path.parent)
            return torch.load(path, map_location="cpu", weights_only=False)
    except (ModuleNotFoundError, AttributeError) as exc:
        raise InputError(
            f"checkpoint '{path}' needs code that cannot be imported ({exc})",
            "install or put on the import path the package that defines the model class",
        ) from exc
    except Exception as exc:
        raise corrupt(path, exc) from exc


def _importable_from(*folders: Path) -> None:
    """Classes of a trusted pickle resolve from these folders too (as `python -m` would),
    for the import scope the caller holds."""
    for folder in folders:
        entry = str(folder.resolve())
        if entry not in sys.path:
            sys.path.append(entry)


def _load_safetensors(path: Path) -> tuple[dict, dict]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        state = load_file(path, device="cpu")
        with safe_open(path, framework="pt", device="cpu") as f:
            raw = f.metadata() or {}
    except Exception as exc:
        raise corrupt(path, exc) from exc
    metadata = {k: decode(v) for k, v in raw.items()}
    if metadata.get("format") == "pt":  # written by safetensors.torch.save_model
        del metadata["format"]
    return state, metadata


# ---------------------------------------------------------------- state dicts


def _is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and all(isinstance(v, torch.Tensor) for v in obj.values())


def _is_weights(obj: Any) -> bool:
    """A state dict under a wrapper key: string keys, some tensors (extra states allowed)."""
    return (
        isinstance(obj, dict)
        and all(isinstance(k, str) for k in obj)
        and any(isinstance(v, torch.Tensor) for v in obj.values())
    )


def _unwrap(obj: Any, path: Path, trust: bool) -> tuple[Any, dict]:
    if isinstance(obj, nn.Module):
        return obj, {}
    if isinstance(obj, dict):
        for key in WRAPPER_KEYS:
            if key in obj and (_is_weights(obj[key]) or isinstance(obj[key], nn.Module)):
                metadata = {k: v for k, v in obj.items() if k != key}
                inner = obj[key]
                if isinstance(inner, nn.Module) and not trust:  # reachable only if allowlisted
                    raise InputError(
                        f"checkpoint '{path}' holds a pickled model under '{key}'", _TRUST_FIX
                    )
                return inner, metadata
        if obj and _is_tensor_dict(obj):
            return obj, {}
        if not obj:
            raise InputError(f"checkpoint '{path}' is an empty dict", "save model.state_dict()")
        keys = ", ".join(map(str, list(obj)[:8]))
        raise InputError(
            f"checkpoint '{path}' is a dict without weights (keys: {keys})",
            "save model.state_dict(), or wrap it as {'state_dict': model.state_dict(), ...}",
        )
    raise InputError(
        f"checkpoint '{path}' holds a {type(obj).__name__}, not a model or state dict",
        "save model.state_dict() (or the model itself)",
    )


def _strip_prefixes(state: dict) -> dict:
    changed = True
    while changed and state:
        changed = False
        for prefix in STRIP_PREFIXES:
            if all(k.startswith(prefix) for k in state):
                state = {k[len(prefix) :]: v for k, v in state.items()}
                changed = True
    return state


def _metadata_factory(metadata: dict) -> tuple[str | None, dict]:
    """The factory a checkpoint names and its kwargs; entries of another type are just metadata."""
    spec = metadata.get("factory")
    kwargs = metadata.get("factory_kwargs")
    spec = spec if isinstance(spec, str) and spec.strip() else None
    return spec, kwargs if isinstance(kwargs, dict) and spec else {}


def _build(
    path: Path, metadata: dict, factory: str | None, kwargs: dict | None, trust: bool
) -> nn.Module:
    meta_factory, meta_kwargs = _metadata_factory(metadata)
    spec = factory or meta_factory
    if not spec:
        raise InputError(
            f"checkpoint '{path}' is a state dict and names no model factory",
            "pass --model-factory module:fn (a function that builds the model)",
        )
    # The checkpoint's kwargs belong to its own factory; a different factory starts from none.
    merged: dict = dict(meta_kwargs) if factory is None or factory == meta_factory else {}
    merged.update(kwargs or {})
    if factory is None and not trust:
        raise _untrusted_factory(path, spec, merged)

    # A factory file named by the checkpoint may sit beside it; the caller's is cwd-relative.
    try:
        with import_scope():  # the factory's folder stays importable while it builds
            fn = import_object(spec, base_dir=None if factory else path.parent)
            model = fn(**merged)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(
            f"model factory '{spec}' failed with kwargs {merged}: {type(exc).__name__}: {exc}",
            "check --model-factory and --factory-kwargs",
        ) from exc
    if not isinstance(model, nn.Module):
        raise InputError(
            f"model factory '{spec}' returned a {type(model).__name__}, not a torch.nn.Module",
            "point --model-factory at a function that returns the model",
        )
    return model


def _untrusted_factory(path: Path, spec: str, kwargs: dict) -> InputError:
    given = f" --factory-kwargs '{json.dumps(kwargs, default=repr)}'" if kwargs else ""
    return InputError(
        f"checkpoint '{path}' asks to build its model with '{spec}', and code named inside a "
        "file is not run unless you trust the file",
        f"pass --model-factory {spec}{given} yourself, or --trust-checkpoint",
    )


def _storage(t: torch.Tensor) -> int:
    return t.untyped_storage().data_ptr()


def _is_full(t: Any) -> bool:
    return isinstance(t, torch.Tensor) and t.numel() > 0


def unwrapped(state: dict, own: dict) -> dict:
    """The model's entries of a wrapper's state: a LightningModule saves `net.0.weight` for its
    model's `0.weight`. Only when no key matches as it is, and one prefix's rest are exactly
    the model's keys (anything else the wrapper holds, a loss or a metric, is left out)."""
    if any(k in own for k in state):
        return state
    prefixes = sorted({k[: i + 1] for k in state for i, c in enumerate(k) if c == "."}, key=len)
    for prefix in prefixes:
        inner = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if set(inner) == set(own):
            return inner
    return state


def _load_state(
    model: nn.Module, state: dict, path: Path, spec: str | None, partial: bool
) -> list[str]:
    """Load `state` into the model; returns the model's tensors the file did not hold
    (`partial` only: otherwise a missing tensor is an error)."""
    own = model.state_dict(keep_vars=True)
    state = unwrapped(state, own)
    present = {_storage(v) for k, v in own.items() if k in state and _is_full(v)}
    # A tied weight saved once (as safetensors does) is covered by its twin.
    missing = [
        k for k in own if k not in state and not (_is_full(own[k]) and _storage(own[k]) in present)
    ]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in state
        if k in own
        and isinstance(state[k], torch.Tensor)
        and isinstance(own[k], torch.Tensor)
        and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if partial and missing and len(missing) == len(own):
        raise InputError(
            f"checkpoint '{path}' holds none of the tensors of the model built by '{spec}'",
            "check --model-factory: the names must match the model's state_dict keys",
        )
    if (missing and not partial) or unexpected or shapes:
        parts = []
        if missing and not partial:
            parts.append(f"missing keys: {first(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {first(unexpected)}")
        if shapes:
            parts.append(f"shape mismatches: {first(shapes, 3)}")
        fix = "pass the right --model-factory and --factory-kwargs for this checkpoint"
        if missing and not unexpected and not shapes:
            fix += ", or --partial if the file holds only the fine-tuned layers"
        raise InputError(
            f"checkpoint '{path}' does not fit the model built by '{spec}' ({'; '.join(parts)})",
            fix,
        )
    # Keep floating tensors in their saved dtype: convert in place so tied parameters stay tied.
    with torch.no_grad():
        for k, t in own.items():
            saved = state.get(k)
            if (
                isinstance(saved, torch.Tensor)
                and isinstance(t, torch.Tensor)
                and t.is_floating_point()
                and saved.is_floating_point()
                and saved.dtype != t.dtype
            ):
                t.data = t.data.to(saved.dtype)
    check_state_tensors(state, path)
    model.load_state_dict(state, strict=False)
    return missing if partial else []


def read_state(path: str | Path, trust: bool = False) -> tuple[dict, dict]:
    """The state dict (prefixes stripped) and metadata of a weights file, without building a
    model: what `landscape track` swaps into the one model it built."""
    path = _check_file(path)
    if _kind(path) == "safetensors":
        obj, metadata = _load_safetensors(path)
    else:
        obj, metadata = _unwrap(_torch_load(path, trust), path, trust)
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    return _strip_prefixes(obj), metadata
