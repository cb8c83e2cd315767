"""The training callback (landscape.callbacks.lightning): its λ_max against a dense float64
Hessian at every logged step, its cost per logged step against a training step, warm against
cold products, the overhead budget's effect on the cadence, and bit identity of the final
weights with and without it.

    python benchmarks/callbacks.py               # CPU (or the GPU when there is one)
    python benchmarks/callbacks.py --steps 200   # a longer run

An MLP (20-32-32-5, 1.9k parameters, BatchNorm and dropout) trains with SGD (momentum 0.9)
on 1,024 synthetic examples in batches of 32; the callback measures on a fixed 512."""

from __future__ import annotations

import argparse
import copy
import logging
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import lightning.pytorch as pl  # noqa: E402

import landscape as ls  # noqa: E402
from landscape.callbacks.lightning import CurvatureCallback  # noqa: E402
from tests.dense import dense_hessian  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(20, 32), nn.BatchNorm1d(32), nn.Tanh(), nn.Dropout(0.1),
        nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 5),
    )  # fmt: skip


class Module(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = net()

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        return nn.functional.cross_entropy(self(batch[0]), batch[1])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)


class Clock(pl.Callback):
    """The wall time of each training step (between batch starts), and the weights."""

    def __init__(self):
        self.marks, self.weights = [], {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.marks.append(time.perf_counter())

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.weights[trainer.global_step] = copy.deepcopy(pl_module.net.state_dict())


def data():
    g = torch.Generator().manual_seed(1)
    w = torch.randn(20, 5, generator=g)
    x = torch.randn(1024, 20, generator=g)
    return x, (x @ w + 0.5 * torch.randn(1024, 5, generator=g)).argmax(1)


def fit(steps: int, callbacks: list) -> Module:
    pl.seed_everything(0, verbose=False)
    module = Module()
    loader = DataLoader(TensorDataset(*data()), batch_size=32, shuffle=True)
    trainer = pl.Trainer(
        max_steps=steps, accelerator=DEVICE, devices=1, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=callbacks,
    )  # fmt: skip
    trainer.fit(module, loader)
    return module.cpu()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--budget-steps", type=int, default=400)
    args = parser.parse_args()
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    x, y = data()
    probe = (x[:512], y[:512])
    plain_clock = Clock()
    plain = fit(args.steps, [plain_clock])
    callback, clock = CurvatureCallback(probe, every_n_steps=args.every), Clock()
    cold = CurvatureCallback(probe, every_n_steps=args.every, warm_start=False)
    with_it = fit(args.steps, [callback, cold, clock])
    same = all(torch.equal(a, b) for a, b in zip(with_it.state_dict().values(),
                                                  plain.state_dict().values()))  # fmt: skip
    step = torch.tensor(plain_clock.marks).diff().median().item()
    print(f"{DEVICE}, torch {torch.__version__}, p = {sum(p.numel() for p in net().parameters())}")
    print(f"training step (median, no callback): {step * 1e3:.2f} ms")
    print(f"final weights bit-identical with and without the callback: {same}")
    print(f"{'step':>5} {'λ_max':>12} {'bound':>9} {'dense':>12} {'|err|':>9} {'prods':>6}"
          f" {'cold':>5} {'ms':>7} {'×step':>6} {'2/η':>6}")  # fmt: skip
    model = net()
    for m, c in zip(callback.history, cold.history, strict=True):
        model.load_state_dict(clock.weights[m.step])
        problem = ls.make_problem(model, probe, "cross-entropy", device="cpu")
        truth = torch.linalg.eigvalsh(dense_hessian(problem))[-1].item()
        value, bound = (
            m.metrics["curvature/lambda_max"],
            m.metrics["curvature/lambda_max_error_bound"],
        )
        ok = "" if abs(value - truth) <= bound else "  OUTSIDE THE BOUND"
        print(f"{m.step:>5} {value:>12.8f} {bound:>9.1e} {truth:>12.8f} {abs(value - truth):>9.1e}"
              f" {m.products:>6} {c.products:>5} {m.seconds * 1e3:>7.1f} {m.seconds / step:>6.1f}"
              f" {m.metrics['curvature/two_over_lr']:>6.1f}{ok}")  # fmt: skip
    warm_p = sum(m.products for m in callback.history[1:])
    cold_p = sum(m.products for m in cold.history[1:])
    print(f"products after the first: warm {warm_p}, cold {cold_p} ({warm_p / cold_p:.2f})")
    later = torch.tensor([m.seconds for m in callback.history[1:]]).median().item()
    print(f"per logged step (median after the first): {later * 1e3:.1f} ms = "
          f"{later / step:.1f} training steps; warm starts used: "
          f"{sum(m.warm for m in callback.history)} of {len(callback.history)}")  # fmt: skip
    for share in (0.1, 0.5):
        budget = CurvatureCallback(probe, every_n_steps=1, max_overhead=share)
        fit(args.budget_steps, [budget])
        c = budget.tracker.cadence
        print(
            f"due at every step, max_overhead={share}: {len(budget.history)} of "
            f"{args.budget_steps} steps measured ({c.skipped} skipped); time measuring / "
            f"training = {c.overhead:.3f}"
        )


if __name__ == "__main__":
    main()
