"""Small models for taylor-check through the command line: each `build_*` is a model factory
(`--model-factory tests/taylor_models.py:build_x`), `save` writes its weights and data."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))

from dense import mlp  # noqa: E402


class WrongTanh(torch.autograd.Function):
    """tanh whose backward is off by a factor 1.1: a wrong derivative, as a custom op has."""

    @staticmethod
    def forward(ctx, x):
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return 1.1 * grad * (1 - y * y)


class WrongNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(5, 12), nn.Linear(12, 3)

    def forward(self, x):
        return self.b(WrongTanh.apply(self.a(x)))


class CNN(nn.Module):
    """Conv, ReLU, max-pool, linear: piecewise linear up to the loss (kinks counted)."""

    def __init__(self):
        super().__init__()
        self.conv, self.relu, self.pool = nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2)
        self.head = nn.Linear(36, 3)

    def forward(self, x):
        return self.head(self.pool(self.relu(self.conv(x))).flatten(1))


def build_tanh():
    return mlp((5, 12, 3), seed=0)


def build_wrong():
    torch.manual_seed(0)
    return WrongNet()


def build_mse():
    return mlp((6, 16, 16, 2), seed=0)


def build_cnn():
    torch.manual_seed(0)
    return CNN()


def build_gpt2():
    import transformers

    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=7, n_positions=5, n_embd=8, n_layer=1, n_head=2, bos_token_id=0, eos_token_id=0
    )
    return transformers.GPT2LMHeadModel(config).eval()


def data(name: str):
    g = torch.Generator().manual_seed(1)
    if name == "mse":
        x = torch.randn(128, 6, generator=g)
        return {"x": x, "y": torch.sin(x[:, :2])}
    if name == "cnn":
        return {
            "x": torch.randn(128, 1, 8, 8, generator=g),
            "y": torch.randint(0, 3, (128,), generator=g),
        }
    if name == "gpt2":
        from test_sequences import lm_data

        x, y = lm_data(n=16, seed=2)
        return {**x, "labels": y}
    return {"x": torch.randn(64, 5, generator=g), "y": torch.randint(0, 3, (64,), generator=g)}


def save(name: str, folder: Path) -> list[str]:
    """Weights and data of model `name` in `folder`; the command-line arguments that load them."""
    model = globals()[f"build_{name}"]()
    torch.save(model.state_dict(), folder / f"{name}.pt")
    torch.save(data(name), folder / f"{name}_data.pt")
    args = [folder / f"{name}.pt", "--model-factory", f"{__file__}:build_{name}"]
    args += ["--data", folder / f"{name}_data.pt"]
    if name == "mse":
        args += ["--loss", "mse"]
    if name == "gpt2":
        args += ["--target", "labels"]
    return [str(a) for a in args]
