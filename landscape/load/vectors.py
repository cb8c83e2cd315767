"""Flat vectors the user gives (a direction): .pt tensors, arrays or lists, and .npy arrays,
read without unpickling anything."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import torch

from landscape.errors import InputError


def read_vector(path: Path):
    """The array stored in a .pt (tensor, array or list) or .npy file."""
    if not path.is_file():
        raise InputError(
            f"direction file '{path}' not found",
            "check the `direction_file` path",
            "direction_file",
        )
    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if path.suffix in (".pt", ".pth"):
            value = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(value, list | tuple):
                value = torch.as_tensor(value)
            if not isinstance(value, torch.Tensor | np.ndarray):
                raise InputError(
                    f"{path.name} holds a {type(value).__name__}, not a vector",
                    "save the direction with torch.save(flat_tensor, path)",
                )
            return value
    except InputError:
        raise
    except pickle.UnpicklingError as exc:  # a pickled object: never unpickled here
        names = ", ".join(dict.fromkeys(re.findall(r"GLOBAL ([\w.]+)", str(exc)))) or "objects"
        raise InputError(
            f"cannot read {path.name}: it holds pickled {names} that a safe load refuses",
            "save the direction with torch.save(flat_tensor, path) or numpy.save",
        ) from None
    except Exception as exc:  # a corrupt or foreign file, reduced to one line
        text = str(exc).strip()
        first = text.splitlines()[0].rstrip(".") if text else type(exc).__name__
        raise InputError(
            f"cannot read {path.name}: {first}", "give a .pt or .npy file holding one flat vector"
        ) from None
    raise InputError(
        f"direction file '{path.name}' is neither .pt nor .npy",
        "save the direction with numpy.save or torch.save",
    )


def read_tensor_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict (name → tensor) from a .pt/.pth file (weights_only) or a .safetensors file:
    the direction files of `landscape surface`."""
    if not path.is_file():
        raise InputError(
            f"direction file '{path}' not found", "check the `directions` paths", "directions"
        )
    fix = "save the direction as a state dict: torch.save({name: tensor, ...}, path)"
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            value = load_file(path, device="cpu")
        elif path.suffix in (".pt", ".pth"):
            value = torch.load(path, map_location="cpu", weights_only=True)
        else:
            raise InputError(f"direction file '{path.name}' is neither .pt nor .safetensors", fix)
    except InputError:
        raise
    except pickle.UnpicklingError as exc:  # a pickled object: never unpickled here
        names = ", ".join(dict.fromkeys(re.findall(r"GLOBAL ([\w.]+)", str(exc)))) or "objects"
        raise InputError(
            f"cannot read {path.name}: it holds pickled {names} that a safe load refuses", fix
        ) from None
    except Exception as exc:  # a corrupt or foreign file, reduced to one line
        text = str(exc).strip()
        first = text.splitlines()[0].rstrip(".") if text else type(exc).__name__
        raise InputError(f"cannot read {path.name}: {first}", fix) from None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items()
    ):
        raise InputError(f"{path.name} holds a {type(value).__name__}, not a state dict", fix)
    return value
