"""The output formats as writers: each turns a rendered report into the files it asked for.

A command produces one `Rendered` (the report, its terminal view, its figures and, for the
gate, its JUnit XML); the sink (`cli.output.emit`) asks every registered writer for its files,
writes them all or none, then prints the JSON or the terminal view. A new format is one more
function in `WRITERS`.
"""

from __future__ import annotations

import importlib
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from landscape.errors import InputError
from landscape.render.files import Target, figure_format, output_path, planned
from landscape.render.json import dumps


def lazy(path: str) -> Callable:
    """`module:function` under landscape.render, imported when first called (rich tables
    and matplotlib load only for the outputs a run asks for)."""
    module, _, name = path.partition(":")

    def call(*args):
        return getattr(importlib.import_module(f"landscape.render.{module}"), name)(*args)

    return call


@dataclass(frozen=True)
class Rendered:
    """A report and how it is shown: `view(report)` is a rich renderable, `figures[stem]
    (report, target)` draws into a file object (in its `format`, the file name's),
    `junit(report)` gives XML bytes."""

    report: Any  # a frozen dataclass: the JSON report
    view: Callable[[Any], Any]
    figures: Mapping[str, Callable[[Any, Any], None]] = field(default_factory=dict)
    junit: Callable[[Any], bytes] | None = None
    csv: Callable[[Any], bytes] | None = None  # a table, one row per item (track)


@dataclass(frozen=True)
class Targets:
    """Where the user asked the output to go."""

    json: bool = False
    png: Path | None = None
    out: Path | None = None
    junit: Path | None = None
    csv: Path | None = None

    @classmethod
    def from_options(cls, opt: dict) -> Targets:
        path = {
            k: output_path(opt[k], f"--{k}") if opt.get(k) is not None else None
            for k in ("png", "out", "junit", "csv")
        }
        return cls(json=bool(opt.get("json")), **path)

    def files(self, rendered: Rendered) -> list[Target]:
        """Every file these targets can get from this report (a figure that fails to draw
        is left out later)."""
        junit = self.junit if rendered.junit is not None else None
        csv = self.csv if rendered.csv is not None else None
        png = self.png if rendered.figures else None
        return planned(self.out, png, junit, rendered.figures, csv)


class Figures:
    """Draws each figure at most once, keeping the failures (a figure must never cost the
    computed numbers)."""

    def __init__(self, rendered: Rendered):
        self._report = rendered.report
        self._figures = rendered.figures
        self.drawn: dict[str, bytes] = {}
        self.failed: dict[str, str] = {}

    def first(self) -> str | None:
        return next(iter(self._figures), None)

    def stems(self) -> list[str]:
        return list(self._figures)

    def get(self, stem: str, fmt: str = "png") -> bytes | None:
        key = stem if fmt == "png" else f"{stem}.{fmt}"
        if key not in self.drawn and stem not in self.failed:
            buffer = FigureBuffer(fmt)
            try:
                self._figures[stem](self._report, buffer)
            except Exception as exc:  # reported once the rest is written
                self.failed[stem] = f"{type(exc).__name__}: {exc}"
                return None
            self.drawn[key] = buffer.getvalue()
        return self.drawn.get(key)


class FigureBuffer(io.BytesIO):
    """The file object a figure is drawn into; `format` is the one its file name asks for."""

    def __init__(self, fmt: str):
        super().__init__()
        self.format = fmt


Files = dict[Path, bytes]


def report_json(r: Rendered, t: Targets, figures: Figures) -> Files:
    return {t.out / "report.json": (dumps(r.report) + "\n").encode()} if t.out else {}


def png(r: Rendered, t: Targets, figures: Figures) -> Files:
    stem = figures.first()
    if t.png is None or stem is None:
        return {}
    data = figures.get(stem, figure_format(t.png))
    return {t.png: data} if data is not None else {}


def out_figures(r: Rendered, t: Targets, figures: Figures) -> Files:
    if t.out is None:
        return {}
    drawn = {stem: figures.get(stem) for stem in figures.stems()}
    return {t.out / f"{stem}.png": data for stem, data in drawn.items() if data is not None}


def junit(r: Rendered, t: Targets, figures: Figures) -> Files:
    return {t.junit: r.junit(r.report)} if t.junit is not None and r.junit is not None else {}


def csv(r: Rendered, t: Targets, figures: Figures) -> Files:
    return {t.csv: r.csv(r.report)} if t.csv is not None and r.csv is not None else {}


WRITERS: dict[str, Callable[[Rendered, Targets, Figures], Files]] = {
    "junit": junit,
    "csv": csv,
    "png": png,
    "json": report_json,
    "figures": out_figures,
}


def files_for(rendered: Rendered, targets: Targets) -> tuple[Files, dict[str, str]]:
    """Every file the targets ask for, and the figures that failed to draw."""
    figures = Figures(rendered)
    files: Files = {}
    for writer in WRITERS.values():
        for path, data in writer(rendered, targets, figures).items():
            if path in files:  # check_targets refuses this before the work; never lose one
                raise InputError(
                    f"two outputs name the same file '{path}'", "give each output its own path"
                )
            files[path] = data
    return files, figures.failed
