"""Benchmark problems: trained MLPs (3.7k-4.8k parameters, 512-1797 examples) and one
transformer encoder layer (1.8M parameters). Deterministic, made here, nothing downloaded."""

from __future__ import annotations

import torch
from torch import nn

from landscape.losses import get_loss
from landscape.problem import build_problem


def _mlp(sizes):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


def trained_mlp(sizes, n, steps=300, seed=0, dtype=torch.float64):
    """An MLP trained with Adam on a noisy teacher task: a real, indefinite Hessian."""
    torch.manual_seed(seed)
    x = torch.randn(n, sizes[0])
    teacher = _mlp(sizes)
    with torch.no_grad():
        logits = teacher(x) * 3
    y = torch.distributions.Categorical(logits=logits).sample()
    model = _mlp(sizes)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return build_problem(model, x, y, get_loss("cross-entropy"), dtype=dtype)


class EncoderRegressor(nn.Module):
    def __init__(self, d=384, heads=6, ff=1536, classes=8):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, batch_first=True)
        self.head = nn.Linear(d, classes)

    def forward(self, x):
        return self.head(self.layer(x).mean(1))


class TransformerProblem:
    """One 1.8M-parameter transformer encoder layer with a linear head, cross-entropy."""

    def __init__(self, n=16, seq=8, seed=0):
        torch.manual_seed(seed)
        self.model = EncoderRegressor()
        self.x = torch.randn(n, seq, 384)
        self.y = torch.randint(0, 8, (n,))

    def build(self, dtype):
        import copy

        return build_problem(
            copy.deepcopy(self.model), self.x, self.y, get_loss("cross-entropy"), dtype=dtype
        )


def transformer_layer(dtype=torch.float32):
    return TransformerProblem().build(dtype)


MLPS = {
    "mlp-4.3k/512": lambda: trained_mlp((32, 64, 32, 4), 512),
    "mlp-4.5k/1797": lambda: trained_mlp((64, 48, 24, 10), 1797),
}


def small_gpt2(n=16, seq=32, dtype=torch.float32):
    """A 2-layer GPT-2 (transformers, random init, 135k parameters) on right-padded
    sequences with -100 targets: the sequence layout, no per-token duplication."""
    import transformers

    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=512, n_positions=seq, n_embd=64, n_layer=2, n_head=4,
        bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    model = transformers.GPT2LMHeadModel(config).eval()
    ids = torch.randint(0, 512, (n, seq))
    lengths = torch.randint(seq // 2, seq + 1, (n,))
    mask = (torch.arange(seq).reshape(1, -1) < lengths.reshape(-1, 1)).long()
    labels = torch.full((n, seq), -100)
    labels[:, :-1] = torch.where(mask[:, 1:] == 1, ids[:, 1:], -100)
    x = {"input_ids": ids * mask, "attention_mask": mask}
    return build_problem(model, x, labels, get_loss("cross-entropy"), dtype=dtype)
