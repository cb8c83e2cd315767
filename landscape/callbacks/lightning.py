"""PyTorch Lightning: certified λ_max of the loss Hessian logged while a model trains.

    from landscape.callbacks.lightning import CurvatureCallback
    trainer = L.Trainer(callbacks=[CurvatureCallback((x, y), "cross-entropy", every_n_steps=50)])
    trainer.fit(module, train_loader)

At every `every_n_steps`-th optimizer step (`trainer.global_step`, the weights after that many
updates) the callback logs `curvature/lambda_max` and `curvature/lambda_max_error_bound` (some
eigenvalue lies within the bound of the value), with k_bottom ≥ 1 `curvature/lambda_min` and
its bound, `curvature/lr` and, for SGD, `curvature/two_over_lr` (the stability edge,
momentum-aware). They go through `pl_module.log` (`trainer.callback_metrics`, the progress bar
with prog_bar=True, a checkpoint's `monitor`), and to every logger (TensorBoard, CSV, W&B, …)
once, at step `global_step`: the step at which Lightning logs the loss of the next batch,
computed at the same weights. (Values given to `pl_module.log(on_step=True)` reach the loggers
only every `log_every_n_steps`, and are logged again, stale, at every later such step until
the next value: so the callback hands them to the loggers itself.)

`data` is what `ls.make_problem` takes (a tuple (x, y), a Dataset or a DataLoader): a fixed
batch or subset of the training data, read in eval mode on a deep copy of the module."""

from __future__ import annotations

import lightning.pytorch as pl
import torch

from landscape.callbacks.core import PREFIX, TOL, Tracker


class CurvatureCallback(pl.Callback):
    """Log certified curvature every `every_n_steps` optimizer steps, leaving training
    bit-identical. `k` top eigenvalues (λ_max first), `k_bottom` bottom ones (λ_min), each to
    `tol` (relative residual); `max_overhead` (e.g. 0.1) skips due steps while measuring would
    take more than that share of the training time. Other keywords go to `ls.make_problem`
    (dtype, batch_size, output, params, …). `.history` holds every measurement."""

    def __init__(
        self,
        data,
        loss="cross-entropy",
        *,
        every_n_steps: int = 100,
        k: int = 1,
        k_bottom: int = 0,
        tol: float = TOL,
        max_products: int | None = None,
        max_overhead: float | None = None,
        warm_start: bool = True,
        prefix: str = PREFIX,
        prog_bar: bool = False,
        **problem,
    ):
        super().__init__()
        self.tracker = Tracker(
            data, loss, every_n_steps, k, k_bottom, tol, max_products, max_overhead,
            warm_start, prefix, problem,
        )  # fmt: skip
        self.prog_bar = prog_bar

    @property
    def history(self):
        return self.tracker.history

    def on_train_start(self, trainer, pl_module) -> None:
        if trainer.global_rank == 0:
            self.tracker.prepare(pl_module, (trainer,))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_rank != 0 and trainer.world_size > 1:
            return  # one process measures (each would compute the same numbers on its copy)
        optimizer = trainer.optimizers[0] if trainer.optimizers else None
        metrics = self.tracker.step_end(pl_module, trainer.global_step, optimizer, (trainer,))
        if not metrics:
            return
        for name, value in metrics.items():  # float64: a float would be logged in float32
            value = torch.tensor(value, dtype=torch.float64, device=pl_module.device)
            pl_module.log(
                name, value, on_step=True, on_epoch=False, prog_bar=self.prog_bar, logger=False
            )
        for logger in trainer.loggers:  # once, at this step (see the module's docstring)
            logger.log_metrics(metrics, step=trainer.global_step)
            logger.save()
