"""Write the bundled sample: ``python -m sample_models.make_sample`` (deterministic).

A 4-class Gaussian mixture with 16 features and 1,024 examples: the classes sit at the corners
of a square in a 2-D latent plane, overlapping (Bayes accuracy about 78%), and the 16 features
are a fixed random linear image of that plane plus small isotropic noise. The tanh MLP of
``sample_models.mlp`` is trained on it full-batch with Adam (lr 1e-2, 300 steps,
cross-entropy). With well-spread 16-D features this network memorises all 1,024 points within
~100 steps (loss ~1e-3); the low-dimensional structure keeps the fit imperfect at 300 steps
(train accuracy ~87%) and leaves clearly negative eigenvalues in the final Hessian.

Writes ``classifier.pt`` (a wrapped state dict with the factory, the optimizer state and the
data path) and ``classifier_data.pt`` ({"x", "y"}); both load with ``weights_only=True``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

from sample_models.mlp import build

FACTORY = "sample_models.mlp:build"
FACTORY_KWARGS = {"in_features": 16, "hidden": [64, 32], "classes": 4, "activation": "tanh"}
N_EXAMPLES = 1024
N_CLASSES = 4
N_FEATURES = 16
LATENT_MEANS = [[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]]
SEPARATION = 1.2  # scale of the latent class means; unit latent noise makes the classes overlap
FEATURE_NOISE = 0.1  # isotropic noise on the 16 features (keeps their covariance full rank)
LR = 1e-2
STEPS = 300


def make_data(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.arange(N_EXAMPLES) % N_CLASSES
    y = y[torch.randperm(N_EXAMPLES, generator=generator)]
    means = torch.tensor(LATENT_MEANS) * SEPARATION
    latent = means[y] + torch.randn(N_EXAMPLES, 2, generator=generator)
    mixing = torch.randn(2, N_FEATURES, generator=generator) / 2**0.5
    noise = FEATURE_NOISE * torch.randn(N_EXAMPLES, N_FEATURES, generator=generator)
    x = latent @ mixing + noise
    return x.float().contiguous(), y.long().contiguous()


def train(x: torch.Tensor, y: torch.Tensor) -> tuple[nn.Module, torch.optim.Adam, float, float]:
    model = build(**FACTORY_KWARGS)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(STEPS):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        logits = model(x)
        loss = loss_fn(logits, y).item()
        accuracy = (logits.argmax(1) == y).float().mean().item()
    return model, optimizer, loss, accuracy


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent, help="output folder")
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    x, y = make_data(generator)
    model, optimizer, loss, accuracy = train(x, y)

    args.out.mkdir(parents=True, exist_ok=True)
    torch.save({"x": x, "y": y}, args.out / "classifier_data.pt")
    torch.save(
        {
            "state_dict": model.state_dict(),
            "factory": FACTORY,
            "factory_kwargs": FACTORY_KWARGS,
            "loss": "cross-entropy",
            "lr": LR,
            "optimizer": optimizer.state_dict(),
            "data": "classifier_data.pt",
            "description": (
                f"tanh MLP 16-64-32-4 trained {STEPS} full-batch Adam steps (lr {LR}) on a "
                f"synthetic 4-class Gaussian mixture ({N_EXAMPLES} examples, 16 features that "
                "are a noisy linear image of an overlapping 2-D mixture); "
                f"final train loss {loss:.4f}, accuracy {accuracy:.4f}"
            ),
            "train_loss": loss,
            "train_accuracy": accuracy,
        },
        args.out / "classifier.pt",
    )
    params = sum(p.numel() for p in model.parameters())
    print(f"{params} parameters, final loss {loss:.4f}, accuracy {accuracy:.4f} -> {args.out}")


if __name__ == "__main__":
    main()
