"""Reports are plain dataclasses; this turns them into JSON-ready values and files."""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path


def to_jsonable(obj):
    """Dataclasses, tensors and numpy values as plain JSON types; NaN/inf become null.
    (torch and numpy are looked up, not imported: an object can only be a tensor if torch is
    loaded, and `landscape --help` must not load it.)"""
    torch, np = sys.modules.get("torch"), sys.modules.get("numpy")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.repr
        }
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if torch is not None and isinstance(obj, torch.Tensor):
        return to_jsonable(obj.detach().cpu().tolist())
    if np is not None and isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if np is not None and isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def dumps(report) -> str:
    return json.dumps(to_jsonable(report), indent=2, allow_nan=False)
