"""Warm against cold starts in `ls.track`: products and wall time per checkpoint.

A full-batch GD run of a small tanh MLP (MSE) sharpens to the edge of stability 2/η; the
checkpoints are taken consecutively there (a callback's cadence) and spread over the run.
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/track.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_track import _data, _model, _train  # noqa: E402

import landscape as ls  # noqa: E402


def compare(label: str, steps: int, save: set[int], tol: float) -> None:
    folder = Path(tempfile.mkdtemp())
    _train(folder, steps, save)
    kw = dict(dtype="float64", tol=tol, metrics=("lambda_max",))
    warm = ls.track(_model(), folder, _data(), "mse", **kw)
    cold = ls.track(_model(), folder, _data(), "mse", cold=True, **kw)
    n = len(warm.checkpoints) - 1  # the first solve is cold in both
    pw = sum(r.products for r in warm.checkpoints[1:])
    pc = sum(r.products for r in cold.checkpoints[1:])
    tw = sum(r.seconds for r in warm.checkpoints[1:])
    tc = sum(r.seconds for r in cold.checkpoints[1:])
    print(
        f"{label:<34} tol {tol:g}: products/checkpoint warm {pw / n:5.1f} cold {pc / n:5.1f}"
        f" (ratio {pw / pc:.2f}); ms/checkpoint warm {1e3 * tw / n:6.1f} cold {1e3 * tc / n:6.1f}"
    )


if __name__ == "__main__":
    for tol in (1e-3, 1e-6):
        compare("consecutive steps 900-912 (EoS)", 912, set(range(900, 913)), tol)
        compare("every 100 steps 0-1200", 1200, set(range(0, 1201, 100)), tol)
