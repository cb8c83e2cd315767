"""Reports are plain dataclasses; this turns them into JSON-ready values and files."""

from __future__ import annotations

import json

from landscape.report import to_jsonable


def dumps(report) -> str:
    return json.dumps(to_jsonable(report), indent=2, allow_nan=False)
