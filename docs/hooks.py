"""mkdocs hook: regenerate the reference pages (docs/gen_reference.py) before every build, so
the site's option and JSON reference always come from the option table and the reports."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def on_pre_build(config, **kwargs) -> None:
    path = Path(__file__).with_name("gen_reference.py")
    spec = importlib.util.spec_from_file_location("gen_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    missing = module.undocumented()
    if missing:
        raise SystemExit("undocumented report fields: " + ", ".join(missing))
    for page, text in module.pages().items():
        if not page.exists() or page.read_text() != text:
            page.write_text(text)
