"""What every analysis report shares: `to_dict()`, the document `--json` prints.

Reports are frozen dataclasses; their fields, in declaration order, are the JSON report's
(fields declared with `repr=False`, such as eigenvectors, are not serialised)."""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path


class Report:
    """Base of the analyses' reports (a plain mixin: it adds no field)."""

    def to_dict(self) -> dict:
        """The report as plain JSON values (NaN and inf as None): the same document the
        command line prints with --json for the same problem. Costs no product."""
        return to_jsonable(self)


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
