"""Ordinary small models for the default run of every command: each `build_*` is a model
factory (`--model-factory tests/default_models.py:build_x`), `save` trains it a little (the
MLP and the CNNs, so that the curvature is a trained network's) and writes its weights and
data."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

V, T = 11, 6  # the language models' vocabulary and sequence length


def digits(n: int, seed: int = 0, side: int = 4, classes: int = 10):
    """`side`×`side` "digits": a class's prototype of strokes, pixel noise and a one-pixel
    jitter, scaled to [0, 1] (what sklearn's 8×8 digits look like, without sklearn)."""
    g = torch.Generator().manual_seed(seed)
    protos = (torch.rand(classes, side, side, generator=g) > 0.6).float()
    y = torch.randint(0, classes, (n,), generator=g)
    x = protos[y] + 0.25 * torch.randn(n, side, side, generator=g)
    shift = torch.randint(-1, 2, (n,), generator=g)
    x = torch.stack([torch.roll(xi, int(s), dims=1) for xi, s in zip(x, shift, strict=True)])
    return x.clamp(0, 1), y


class MLP(nn.Module):
    def __init__(self, inputs: int = 64, hidden: int = 8, classes: int = 10):
        super().__init__()
        self.a, self.b = nn.Linear(inputs, hidden), nn.Linear(hidden, classes)

    def forward(self, x):
        return self.b(torch.tanh(self.a(x.flatten(1))))


class CNN(nn.Module):
    """Conv, (BatchNorm), ReLU, max-pool, linear on 1×8×8 images."""

    def __init__(self, batchnorm: bool = False, classes: int = 4):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.norm = nn.BatchNorm2d(3) if batchnorm else nn.Identity()
        self.head = nn.Linear(3 * 4 * 4, classes)

    def forward(self, x):
        h = nn.functional.max_pool2d(torch.relu(self.norm(self.conv(x))), 2)
        return self.head(h.flatten(1))


def build_mlp():
    torch.manual_seed(0)
    return MLP()


def build_cnn():
    torch.manual_seed(0)
    return CNN()


def build_bn_cnn():
    torch.manual_seed(0)
    return CNN(batchnorm=True)


def build_gpt2():
    import transformers

    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=V, n_positions=T, n_embd=8, n_layer=1, n_head=2, bos_token_id=0, eos_token_id=0
    )
    return transformers.GPT2LMHeadModel(config).eval()


def build_bert():
    import transformers

    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=V,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=T,
        num_labels=3,
    )
    return transformers.BertForSequenceClassification(config).eval()


def data(name: str) -> dict:
    g = torch.Generator().manual_seed(1)
    if name == "mlp":
        x, y = digits(300, side=8)
        return {"x": x.flatten(1), "y": y}
    if name in ("cnn", "bn_cnn"):
        x, y = digits(64, seed=2, side=8, classes=4)
        return {"x": x.unsqueeze(1), "y": y}
    ids = torch.randint(1, V, (8, T), generator=g)
    lengths = torch.randint(3, T + 1, (8,), generator=g)
    mask = (torch.arange(T).reshape(1, -1) < lengths.reshape(-1, 1)).long()
    ids = ids * mask
    if name == "gpt2":  # the next token, -100 where padded (shifted already)
        labels = torch.full((8, T), -100)
        labels[:, :-1] = torch.where(mask[:, 1:] == 1, ids[:, 1:], -100)
    else:
        labels = torch.randint(0, 3, (8,), generator=g)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def train(model: nn.Module, d: dict, steps: int) -> nn.Module:
    """A few hundred Adam steps on the data (BatchNorm's running statistics follow)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(d["x"]), d["y"]).backward()
        opt.step()
    return model.eval()


def save(name: str, folder: Path) -> tuple[list[str], str]:
    """Weights (trained a little) and data of model `name` in `folder`: the arguments that load
    them, and a second checkpoint a little further on (20 more steps, or a small perturbation
    of the untrained language models) for `interpolate`."""
    model, d = globals()[f"build_{name}"](), data(name)
    trained = name in ("mlp", "cnn", "bn_cnn")
    if trained:
        train(model, d, 300)
    ckpt, second = folder / f"{name}.pt", folder / f"{name}_b.pt"
    torch.save(model.state_dict(), ckpt)
    if trained:
        train(model, d, 20)
    else:
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.01 * torch.randn(p.shape, generator=torch.Generator().manual_seed(3)))
    torch.save(model.state_dict(), second)
    torch.save(d, folder / f"{name}_data.pt")
    args = [ckpt, "--model-factory", f"{__file__}:build_{name}"]
    args += ["--data", folder / f"{name}_data.pt"]
    if name in ("gpt2", "bert"):
        args += ["--target", "labels"]
    return [str(a) for a in args], str(second)
