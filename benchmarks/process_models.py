"""The three problems of the whole-process benchmark (benchmarks/whole_process.py), as model
factories a `landscape` process loads with --model-factory: an MLP (4.8k parameters), a
ReLU/MaxPool CNN (139k) and one transformer encoder layer with a head (1.78M)."""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.models import EncoderRegressor


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 10))


def cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 8 * 8, 29), nn.ReLU(), nn.Linear(29, 10),
    )  # fmt: skip


def transformer() -> nn.Module:
    return EncoderRegressor()


def data(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and labels: 1,797 vectors of 64 (digits-sized), 512 images 3×16×16, or 12
    sentences of 8 tokens of width 384 (random, seeded)."""
    gen = torch.Generator().manual_seed(0)
    shape, classes = {
        "mlp": ((1797, 64), 10),
        "cnn": ((512, 3, 16, 16), 10),
        "transformer": ((12, 8, 384), 8),
    }[name]
    x = torch.randn(shape, generator=gen)
    return x, torch.randint(0, classes, (shape[0],), generator=gen)


STEPS = {"mlp": 200, "cnn": 200, "transformer": 0}  # 12 sentences: 200 steps would overfit


def trained(name: str) -> nn.Module:
    """The model after a short Adam run on its data (a real, indefinite Hessian); the
    transformer as initialised (trained on 12 sentences its Hessian falls to 4e-3 and float32
    products cannot resolve it)."""
    torch.manual_seed(0)
    steps = STEPS[name]
    model = {"mlp": mlp, "cnn": cnn, "transformer": transformer}[name]()
    x, y = data(name)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model.eval()
