"""What the figures draw (data, scales and limits, not pixels), and the figure format chosen
by the file name's suffix."""

from __future__ import annotations

import importlib
import json

import pytest
import taylor_models
from cli import run


@pytest.fixture()
def model(tmp_path):
    return taylor_models.save("tanh", tmp_path)


@pytest.fixture()
def drawn(monkeypatch):
    """The matplotlib figures the command draws, by module, instead of their bytes."""
    figures = {}
    for name in ("spectrum", "ggn_gap", "taylor"):
        module = importlib.import_module(f"landscape.render.figures.{name}")
        real = module.save

        def keep(fig, target, name=name, real=real):
            figures[name] = fig
            real(fig, target)

        monkeypatch.setattr(module, "save", keep)
    return figures


def test_ggn_gap_draws_curvature_shares_on_a_linear_axis(
    model, drawn, tmp_path, capsys, monkeypatch
):
    args = ["ggn-gap", *model, "--k", "2", "--probes", "4", "--mc-samples", "1,4"]
    r = run([*args, "--png", tmp_path / "gap.png", "--json"], capsys, monkeypatch)
    assert r.code == 0, r.err
    report = json.loads(r.out)
    middle = drawn["ggn_gap"].axes[1]
    assert middle.get_xscale() == "linear"
    widths = {}
    for bars in middle.containers:
        widths[bars.get_label()] = [patch.get_width() for patch in bars]
    for i, d in enumerate(report["directions"]):  # the bars are the numbers themselves
        assert widths["dᵀHd"][i] == pytest.approx(d["dHd"])
        assert widths["dᵀTd"][i] == pytest.approx(d["dTd"])
    for ax in drawn["ggn_gap"].axes:
        assert "(" in (ax.get_xlabel() + ax.get_ylabel())  # a unit, or "no unit"


def test_density_is_drawn_inside_the_certified_range(model, drawn, tmp_path, capsys, monkeypatch):
    args = ["spectrum", *model, "--k", "1", "--density", "--density-starts", "2"]
    r = run([*args, "--png", tmp_path / "s.png", "--json"], capsys, monkeypatch)
    assert r.code == 0, r.err
    report = json.loads(r.out)
    low = min(e["value"] - e["error_bound"] for e in report["bottom"])
    high = max(e["value"] + e["error_bound"] for e in report["top"])
    assert min(report["density"]["grid"]) < low  # the smoothing reaches past the spectrum
    density = drawn["spectrum"].axes[1]
    assert density.get_xlim() == pytest.approx((low, high))
    (curve,) = [line for line in density.get_lines() if len(line.get_xdata()) > 2]
    assert low <= min(curve.get_xdata()) and max(curve.get_xdata()) <= high
    assert "loss per unit step²" in density.get_xlabel()
    assert "per unit λ" in density.get_ylabel()


@pytest.mark.parametrize(
    "suffix, magic",
    [(".png", b"\x89PNG"), (".jpg", b"\xff\xd8\xff"), (".pdf", b"%PDF"), (".svg", b"<?xml")],
)
def test_the_suffix_chooses_the_format(suffix, magic, model, tmp_path, capsys, monkeypatch):
    target = tmp_path / f"t{suffix}"
    args = ["taylor-check", *model, "--direction", "gradient", "--eps", "1e-3", "--steps", "4"]
    r = run([*args, "--png", target], capsys, monkeypatch)
    assert r.code == 0, r.err
    assert target.read_bytes()[: len(magic)] == magic


def test_an_unknown_suffix_is_refused_in_one_line(model, tmp_path, capsys, monkeypatch):
    r = run(["taylor-check", *model, "--png", tmp_path / "t.gif"], capsys, monkeypatch)
    assert r.code == 2 and r.out == ""
    assert len(r.err.strip().splitlines()) == 1
    assert "'.gif' is not one of .png, .jpg, .pdf, .svg" in r.err
    assert not (tmp_path / "t.gif").exists()
