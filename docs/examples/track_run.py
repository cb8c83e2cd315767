"""A small full-batch gradient-descent run that sharpens to the edge of stability (η = 0.65,
2/η ≈ 3.08), for `landscape track`: `python track_run.py` writes run/data.pt and four
checkpoints run/ck_<step>.pt (weights, the SGD state and the step); `python track_run.py 10`
one every 10 steps (the README's figure); `build` is the factory."""

import sys
from pathlib import Path

import torch
from torch import nn


def build():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(5, 12), nn.Tanh(), nn.Linear(12, 12), nn.Tanh(), nn.Linear(12, 2)
    ).double()


def main(folder: Path = Path("run"), steps=(0, 100, 200, 300)) -> None:
    folder.mkdir(exist_ok=True)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(48, 5, generator=g, dtype=torch.float64)
    y = torch.randn(48, 2, generator=g, dtype=torch.float64)
    torch.save({"x": x, "y": y}, folder / "data.pt")
    model = build()
    opt = torch.optim.SGD(model.parameters(), lr=0.65)
    for t in range(max(steps) + 1):
        if t in steps:
            blob = {"state_dict": model.state_dict(), "optimizer": opt.state_dict(), "step": t}
            torch.save(blob, folder / f"ck_{t}.pt")
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    print(f"wrote {folder}/data.pt and {len(steps)} checkpoints")


if __name__ == "__main__":
    main(steps=tuple(range(0, 301, int(sys.argv[1]))) if len(sys.argv) > 1 else (0, 100, 200, 300))
