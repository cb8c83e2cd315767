"""A small multilayer perceptron: the sample model (smooth activation, ~3.3k parameters)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

ACTIVATIONS = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "gelu": nn.functional.gelu,
    "softplus": nn.functional.softplus,
    "sigmoid": torch.sigmoid,
}


class MLP(nn.Module):
    """Linear layers ``hidden.0 ... hidden.k`` with an activation between, then ``out``."""

    def __init__(
        self,
        in_features: int = 16,
        hidden: Sequence[int] = (64, 32),
        classes: int = 4,
        activation: str = "tanh",
    ):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation '{activation}', expected one of {', '.join(ACTIVATIONS)}"
            )
        widths = [int(in_features), *(int(h) for h in hidden)]
        self.activation = activation
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        self.out = nn.Linear(widths[-1], int(classes))

    def forward(self, x: Tensor) -> Tensor:
        act = ACTIVATIONS[self.activation]
        for layer in self.hidden:
            x = act(layer(x))
        return self.out(x)


def build(
    in_features: int = 16,
    hidden: Sequence[int] = (64, 32),
    classes: int = 4,
    activation: str = "tanh",
) -> nn.Module:
    """The sample classifier's architecture: 16 -> 64 -> 32 -> 4 with tanh (3,300 parameters)."""
    return MLP(in_features, hidden, classes, activation)
