"""Whole processes as a user runs them, on 2 cores, float32 products: `landscape spectrum`
against the hand-written double-backward + scipy eigsh script (benchmarks/hand_written.py),
top-5 and bottom-5 (residuals to 1e-4·max|λ|, the float32 floor), on an MLP (4.8k
parameters), a ReLU CNN (139k) and a transformer layer (1.78M); and `landscape --help`
against `python -c "import torch"`. Ratios in one run.

    python benchmarks/whole_process.py [--repeat 3] [--only mlp,cnn,transformer]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "2"}


def prepare(folder: Path) -> None:
    import torch

    from benchmarks import process_models

    for name in ("mlp", "cnn", "transformer"):
        torch.save(process_models.trained(name).state_dict(), folder / f"{name}.pt")
        x, y = process_models.data(name)
        torch.save({"x": x, "y": y}, folder / f"{name}-data.pt")


def timed(command: list[str], repeat: int, cwd: Path) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=ENV, cwd=cwd)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
        out = done.stdout
    return statistics.median(times), out


def ours(folder: Path, name: str, end: str) -> list[str]:
    k = ["--k", "5", "--k-bottom", "0"] if end == "top" else ["--k", "0", "--k-bottom", "5"]
    return [
        sys.executable, "-m", "landscape", "spectrum", str(folder / f"{name}.pt"),
        "--model-factory", f"benchmarks.process_models:{name}",
        "--data", str(folder / f"{name}-data.pt"), "--loss", "cross-entropy",
        "--dtype", "float32", "--tol", "1e-4", "--json", *k,
    ]  # fmt: skip


def script(folder: Path, name: str, end: str) -> list[str]:
    which = "LA" if end == "top" else "SA"
    return [sys.executable, str(ROOT / "benchmarks/hand_written.py"), str(folder), name, "5", which]


def compare(folder: Path, name: str, end: str, repeat: int, scale: dict) -> None:
    """One line: products, wall times, their ratio and the largest difference between our
    eigenvalues and eigsh's relative to max|λ| (the top run's λ_max, kept in `scale`)."""
    t_ours, out = timed(ours(folder, name, end), repeat, ROOT)
    t_script, line = timed(script(folder, name, end), repeat, ROOT)
    report = json.loads(out)
    pairs = report["top"] if end == "top" else report["bottom"]
    values = sorted(e["value"] for e in pairs)
    *theirs, products, _ = line.split()
    theirs = sorted(float(v) for v in theirs)
    scale.setdefault(name, max(abs(v) for v in theirs))
    err = max(abs(a - b) for a, b in zip(values, theirs, strict=True)) / scale[name]
    print(
        f"{name:12s} {end:6s} ours {report['solver']['products']:4d} products "
        f"{t_ours:6.2f} s | script {int(products):4d} products {t_script:6.2f} s | "
        f"ratio {t_ours / t_script:5.2f} | max |Δλ|/max|λ| {err:.1e} | "
        f"converged {report['solver']['converged']}"
    )


def main() -> None:
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 3
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else ""
    names = only.split(",") if only else ["mlp", "cnn", "transformer"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        prepare(folder)
        scale: dict[str, float] = {}
        for name in names:
            for end in ("top", "bottom"):
                compare(folder, name, end, repeat, scale)
    t_help, _ = timed([sys.executable, "-m", "landscape", "--help"], repeat, ROOT)
    t_torch, _ = timed([sys.executable, "-c", "import torch"], repeat, ROOT)
    print(f"landscape --help {t_help:.2f} s, import torch {t_torch:.2f} s: "
          f"ratio {t_help / t_torch:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
