"""What a reader sees matches what was computed: spectrum.png's legends stay inside the figure
and off the points, the loss slices bend smoothly where the loss is smooth, taylor-check's
verdict agrees with its table, and several failures are one stderr line each."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace

import default_models
import numpy as np
import taylor_models
import torch
from cli import run

from landscape.analyses.surface.slices import loss_slice, sharpest_bend, slice_grid
from landscape.analyses.taylor.settings import FLOOR_FACTOR
from landscape.analyses.taylor.steps import Residuals
from landscape.analyses.taylor.verdicts import Advice, check_residual
from landscape.curvature import DenseOperator
from landscape.estimators.results import Eigenpair
from landscape.estimators.slq import spectral_density


# -- spectrum.png -----------------------------------------------------------------------------
def sample_like_report():
    """The sample's extremes (43.1 … 9.9 on top, −0.36 … −0.30 at the bottom: a symlog axis)
    and a density of a matrix with that range."""
    top = [Eigenpair(v, 1e-13, True) for v in (43.13, 22.0, 16.1, 13.8, 9.9)]
    bottom = [Eigenpair(v, 1e-9, True) for v in (-0.36, -0.35, -0.33, -0.31, -0.30)]
    g = torch.Generator().manual_seed(0)
    Q, _ = torch.linalg.qr(torch.randn(60, 60, generator=g, dtype=torch.float64))
    lam = torch.cat([torch.linspace(-0.36, 0.5, 55), torch.tensor([9.9, 13.8, 16.1, 22, 43.13])])
    op = DenseOperator((Q * lam.double()) @ Q.T)
    density = spectral_density(op, num_starts=2, lanczos_steps=20, seed=0)
    return SimpleNamespace(top=top, bottom=bottom, curvature="hessian", density=density)


def test_spectrum_legends_stay_in_the_figure_and_every_point_in_its_axes(monkeypatch):
    import landscape.render.figures.spectrum as figure

    drawn = {}
    monkeypatch.setattr(figure, "save", lambda fig, target: drawn.setdefault("fig", fig))
    report = sample_like_report()
    figure.draw_spectrum(report, io.BytesIO())
    fig = drawn["fig"]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    whole = fig.bbox
    for ax in fig.axes:
        box = ax.get_legend().get_window_extent(renderer)
        assert whole.x0 <= box.x0 and box.x1 <= whole.x1, (box, whole)  # not off the figure
        assert whole.y0 <= box.y0 and box.y1 <= whole.y1, (box, whole)
        assert not box.overlaps(ax.bbox)  # nothing drawn in the axes is under it
    eigen_axes = fig.axes[0]
    area = eigen_axes.bbox
    for line in eigen_axes.lines:
        if line.get_marker() in (None, "None", ""):
            continue
        radius = line.get_markersize() * fig.dpi / 72 / 2
        for x, y in eigen_axes.transData.transform(line.get_xydata()):
            assert area.x0 + radius <= x <= area.x1 - radius  # the whole marker is visible
            assert area.y0 + radius <= y <= area.y1 - radius, (y, area)


# -- slices.png -------------------------------------------------------------------------------
class Line:
    """A 'problem' whose loss along the line is f(t) (θ = 0, one parameter)."""

    def __init__(self, f):
        self.f = f

    def flat_params(self):
        return torch.zeros(1, dtype=torch.float64)

    def loss_at(self, x):
        return float(self.f(float(x[0])))


def sample_bowl(t: float) -> float:
    """The sample's quadratic model along its top eigenvector: a smooth, sharp minimum."""
    return 0.3344 - 0.7404 * t + 21.566 * t * t


def test_a_smooth_sharp_minimum_is_drawn_without_a_corner():
    t = slice_grid(1.0, 41)
    even = [(float(s), sample_bowl(float(s))) for s in t]
    assert sharpest_bend(even) is not None  # 41 even points turn > MAX_TURN at the minimum
    ts, losses = loss_slice(Line(sample_bowl), torch.ones(1, dtype=torch.float64), t)
    assert sharpest_bend(list(zip(ts, losses))) is None  # refined: turns < MAX_TURN
    assert len(ts) <= 2 * 41 and set(np.round(t.tolist(), 12)) <= set(np.round(ts, 12))
    assert losses == [sample_bowl(s) for s in ts]  # every point evaluated, none interpolated
    assert ts == sorted(ts)
    step = min(b - a for a, b in zip(ts, ts[1:]))
    assert step < 0.05 / 4  # finer than the even grid where it bends


def test_a_true_kink_stays_a_kink_within_the_budget():
    t = slice_grid(1.0, 21)
    ts, losses = loss_slice(Line(abs), torch.ones(1, dtype=torch.float64), t)
    assert len(ts) <= 2 * 21  # refinement is bounded
    pairs = list(zip(ts, losses))
    i = sharpest_bend(pairs)  # still bends more than MAX_TURN: at |t|'s corner, not smoothed
    assert i is not None and abs(pairs[i][0]) < 1e-12
    assert losses == [abs(s) for s in ts]


# -- taylor-check -----------------------------------------------------------------------------
def rows(kinked_above: bool) -> list[Residuals]:
    """R₁ ∝ η² well above the floor; R₂ᴴ = 25η³, above the floor (30 × 1e-17) only at the
    three largest steps, which cross a kink when `kinked_above`."""
    out = []
    for j in range(10):
        eta = 1e-3 * 2.0**-j
        r2 = 25 * eta**3 if j < 3 else 1e-18
        out.append(
            Residuals(eta, 0.0, 0.0, 0.0, 0.0, 1.0, eta**2, r2, r2, 1e-17,
                      kinks=(2 if j < 3 else 0) if kinked_above else 0)
        )  # fmt: skip
    return out


def test_a_cubic_residual_at_kinked_steps_is_never_called_exact():
    steps = rows(kinked_above=True)
    assert max(s.r2_hessian for s in steps) > FLOOR_FACTOR * 1e-17  # the table shows it
    check, _ = check_residual(steps, "r2_hessian", 3.0, 2.9, Advice("float64", auto=True))
    assert check.status == "kinks", check.reason
    assert "exact" not in check.reason and "kink" in check.reason


def test_a_residual_at_the_floor_everywhere_is_at_the_floor():
    steps = [
        Residuals(1e-3 * 2.0**-j, 0.0, 0.0, 0.0, 0.0, 1.0, 1e-6 * 4.0**-j, 1e-18, 1e-18, 1e-17, 0)
        for j in range(8)
    ]
    check, _ = check_residual(steps, "r2_hessian", 3.0, 2.9, Advice("float64", auto=True))
    assert check.status == "exact" and "round-off floor at every step" in check.reason


def test_the_bn_cnn_table_and_verdict_agree(tmp_path, capsys, monkeypatch):
    """A BatchNorm ReLU CNN along a random direction: R₂ᴴ rises above the floor (order 3) only
    at steps that cross a kink; the verdict says kinks, not 'exact to round-off'."""
    args, _ = default_models.save("bn_cnn", tmp_path)
    r = run(["taylor-check", *args, "--direction", "random", "--json"], capsys, monkeypatch)
    assert r.code == 0, r.err
    (d,) = json.loads(r.out)["directions"]
    check = next(c for c in d["checks"] if c["residual"] == "r2_hessian")
    shown = [s for s in d["steps"] if s["r2_hessian"] >= FLOOR_FACTOR * s["noise"]]
    assert shown  # the table shows a residual above the floor ...
    assert check["status"] != "exact"  # ... so the verdict does not call it round-off
    if all(s["kinks"] for s in shown):
        assert check["status"] == "kinks" and d["status"] == "kinks"


def test_several_failed_directions_are_one_stderr_line_each(tmp_path, capsys, monkeypatch):
    args = taylor_models.save("wrong", tmp_path)
    directions = ["gradient", "random"]
    r = run(["taylor-check", *args, "--direction", ",".join(directions)], capsys, monkeypatch)
    assert r.code == 1, r.err
    lines = r.err.strip().splitlines()
    for name in directions:
        (line,) = [x for x in lines if x.startswith(f"taylor-check FAILED along '{name}':")]
        assert "first-order term is off" in line
    assert lines[-1].startswith("error: taylor-check FAILED along 'gradient', 'random':")
    assert "first-order" not in lines[-1]  # the summary, not the reasons again
    assert len(lines) == len(directions) + 1


def test_one_failed_direction_is_one_error_line(tmp_path, capsys, monkeypatch):
    args = taylor_models.save("wrong", tmp_path)
    r = run(["taylor-check", *args, "--direction", "random"], capsys, monkeypatch)
    assert r.code == 1
    (line,) = r.err.strip().splitlines()
    assert line.startswith("error: taylor-check FAILED along 'random':")
    assert "first-order term is off" in line
