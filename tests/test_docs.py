"""The docs site's generated reference and examples (fast: nothing is built or run here).

- every option of every command (landscape/cli/options.py's TABLE) is in the command line
  reference, under its command, with its help text;
- every field the reports serialise is in the JSON reference, each with a description, and the
  walk over the dataclasses gives the keys `to_dict()` really writes;
- the committed reference pages are what docs/gen_reference.py writes now;
- every ```console block of the docs is produced by docs/examples.py (follows a run marker).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, DOCS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


gen = _load("gen_reference")
examples = _load("examples")


def _section(page: str, heading: str) -> str:
    """The text of the `## heading` section of a page."""
    start = page.index(f"## {heading}\n")
    end = page.find("\n## ", start + 1)
    return page[start : end if end > 0 else None]


def test_every_option_of_every_command_is_in_the_cli_reference():
    from landscape.cli.options import COMMANDS, TABLE, options_of

    page = (DOCS / "reference/cli.md").read_text()
    for command in COMMANDS:
        section = _section(page, f"`landscape {command.replace('_', '-')}`")
        for o in options_of(command).values():
            shown = o.name.upper() if o.argument else o.flag
            rows = [r for r in section.splitlines() if re.match(rf"\| `{shown}[` ]", r)]
            assert rows, f"{shown} of {command} is missing from docs/reference/cli.md"
            assert gen._cell(o.help) in rows[0], f"{shown} of {command}: help text differs"
    # and the table has no option the page leaves out: each record is in some command
    assert all(o.commands for o in TABLE)


def test_every_report_field_is_documented():
    assert gen.undocumented() == [], "comment these fields or add them to FIELD_NOTES"


def test_every_report_field_is_in_the_json_reference():
    page = (DOCS / "reference/json.md").read_text()
    for command, classes in gen.reachable().items():
        section = _section(page, f"`{command}`")
        for name, _ in gen.serialised_fields(classes[0]):
            assert f"| `{name}` |" in section, f"{command}: field {name} missing"
        for cls in classes[1:]:
            assert f'<a id="{gen.anchor(cls)}"></a>' in page, f"{cls.__name__} missing"


def test_the_field_walk_is_what_to_dict_writes():
    """The params report is cheap to make: its document's keys are the walked fields."""
    from torch import nn

    import landscape as ls

    doc = ls.params(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))).to_dict()
    module, name = gen.REPORTS["params"]
    classes = {c.__name__: c for c in gen.reachable()["params"]}

    def names(cls_name: str) -> list[str]:
        return [n for n, _ in gen.serialised_fields(classes[cls_name])]

    assert list(doc) == names(name)
    assert list(doc["parameters"][0]) == names("ParamEntry")
    assert list(doc["blocks"][0]) == names("BlockEntry")


def test_every_command_has_a_report_in_the_json_reference():
    from landscape.cli.options import COMMANDS

    assert sorted(gen.REPORTS) == sorted(c.replace("_", "-") for c in COMMANDS)


def test_the_committed_reference_pages_are_current():
    stale = [
        str(path.relative_to(ROOT))
        for path, text in gen.pages().items()
        if not path.exists() or path.read_text() != text
    ]
    assert not stale, f"run python docs/gen_reference.py: {stale} are out of date"


PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_console_block_is_generated(page):
    lines = page.read_text().split("\n")
    owned = {b.start + len(b.examples) for b in examples.parse(lines)}
    for number, line in enumerate(lines):
        if line.strip() == "```console":
            assert number in owned, f"{page.name}:{number + 1}: a console block with no run marker"


def test_the_examples_parse_their_options():
    lines = [
        "<!-- run exit=2: landscape spectrum --basis-memory 100kB -->",
        "<!-- run head=3 tail=1: landscape taylor-check -->",
        "```console",
        "old output",
        "```",
    ]
    (block,) = examples.parse(lines)
    assert [e.exit for e in block.examples] == [2, 0]
    assert (block.examples[1].head, block.examples[1].tail) == (3, 1)
    assert (block.start, block.end) == (0, 5)
    cut = examples.shown(block.examples[1], [str(i) for i in range(10)])
    assert cut == ["0", "1", "2", "...", "9"]


def test_the_docs_readme_links_resolve():
    """Relative links of the README into docs/ point at files that exist."""
    text = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\((docs/[^)#\s]+)", text):
        assert (ROOT / target).exists(), target
