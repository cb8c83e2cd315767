"""Progress off a terminal: plain lines every ~10 s and one warning before a long run, driven
by a fake clock (no timed tests); the bar and the lines stay on stderr."""

from __future__ import annotations

import importlib
import json
import re

from cli import run

from landscape.cli.progress import Heartbeat

app_module = importlib.import_module("landscape.cli.progress")


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def heartbeat(total=400, bound=False):
    clock, lines = Clock(), []
    meter = Heartbeat("spectrum", total, bound=bound, clock=clock, write=lines.append)
    return meter, clock, lines


def test_a_line_every_ten_seconds_with_the_time_left():
    meter, clock, lines = heartbeat()
    for done in range(0, 121, 4):  # 0.4 s a product: 120 products in 12 s
        clock.now = done * 0.1
        meter.update(done)
    assert lines == ["spectrum: 100/400 products, 10 s, about 30 s left"]
    clock.now = 20.0
    meter.update(200)
    assert lines[-1] == "spectrum: 200/400 products, 20 s, about 20 s left"
    clock.now = 25.0
    meter.update(250)  # 5 s after the last line: none
    assert len(lines) == 2


def test_a_budget_says_at_most_and_no_total_says_the_count():
    meter, clock, lines = heartbeat(bound=True)
    clock.now = 10.0
    meter.update(100)
    assert lines == ["spectrum: 100/400 products, 10 s, at most 30 s left"]
    clock, lines = Clock(), []
    meter = Heartbeat("ggn-gap", None, clock=clock, write=lines.append)
    clock.now = 11.0
    meter.update(37)
    assert lines == ["ggn-gap: 37 products, 11 s"]


def test_the_stage_under_way_is_named():
    clock, lines = Clock(), []
    meter = Heartbeat("sharpness", None, "", clock=clock, write=lines.append)
    meter.stage = "adaptive sharpness (batches)"
    clock.now = 10.0
    meter.update(3)
    assert lines == ["sharpness (adaptive sharpness (batches)): 3, 10 s"]


def test_one_line_before_a_long_run_says_how_long_and_what_shortens_it():
    meter, clock, lines = heartbeat(total=1000)
    clock.now = 1.0
    meter.update(5)  # before WARMUP: no estimate yet
    assert lines == []
    clock.now = 3.0
    meter.update(15)  # 0.2 s a product × 1000 = 200 s
    assert len(lines) == 1
    assert lines[0].startswith("spectrum: this run will take about 3 min (1000 products at 0.2 s")
    assert "--samples" in lines[0] and "--batch-size" in lines[0]
    clock.now = 4.0
    meter.update(20)
    assert len(lines) == 1  # said once
    meter, clock, lines = heartbeat(total=100)  # 0.2 s × 100 = 20 s: not long
    clock.now = 3.0
    meter.update(15)
    assert lines == []


def test_the_command_prints_progress_lines_on_stderr_only(capsys, monkeypatch):
    """`spectrum --json` off a terminal with a clock that runs 4 s per reading: progress lines
    and the long-run warning go to stderr, stdout is the JSON report alone."""
    clock = Clock()

    def tick() -> float:
        clock.now += 4.0
        return clock.now

    monkeypatch.setattr(app_module, "CLOCK", tick)
    monkeypatch.setattr(app_module, "POLL", 0.01)
    r = run(
        ["spectrum", "--k", "1", "--k-bottom", "0", "--samples", "128", "--trace", "--json"],
        capsys,
        monkeypatch,
    )
    assert r.code == 0, r.err
    assert json.loads(r.out)["command"] == "spectrum"
    lines = re.findall(r"hessian spectrum: \d+/\d+ products, \d+ s, at most .* left", r.err)
    assert lines, r.err
    assert "hessian spectrum: this run will take up to" in r.err
