"""Hugging Face `Trainer`: certified λ_max of the loss Hessian logged while a model trains.

    from landscape.callbacks.transformers import CurvatureCallback
    trainer = Trainer(model=model, args=args, train_dataset=train)
    trainer.add_callback(CurvatureCallback(({"input_ids": ids}, labels), trainer=trainer))
    trainer.train()

At every `every_n_steps`-th optimizer step (`state.global_step`: the weights after that many
updates) the callback logs `curvature/lambda_max` and `curvature/lambda_max_error_bound`, with
k_bottom ≥ 1 `curvature/lambda_min` and its bound, `curvature/lr` and, for SGD,
`curvature/two_over_lr` (the stability edge, momentum-aware). With `trainer=` they go through
`trainer.log`: into `state.log_history` (with the step) and to every reporter (TensorBoard,
W&B, …: each callback's `on_log`), as the trainer's own figures do. A callback is handed no
trainer, so without `trainer=` they go into `state.log_history` only (saved with each
checkpoint in trainer_state.json), and the reporters do not see them.

`data` is what `ls.make_problem` takes: (x, y) with x a dict of the model's inputs (no
labels) and y the labels, a Dataset or a DataLoader; a fixed subset of the training data,
read in eval mode on a deep copy of the model. The loss is taken of the output's `logits`."""

from __future__ import annotations

from transformers import TrainerCallback

from landscape.callbacks.core import PREFIX, TOL, Tracker


class CurvatureCallback(TrainerCallback):
    """Log certified curvature every `every_n_steps` optimizer steps, leaving training
    bit-identical. `k` top eigenvalues (λ_max first), `k_bottom` bottom ones (λ_min), each to
    `tol` (relative residual); `max_overhead` (e.g. 0.1) skips due steps while measuring would
    take more than that share of the training time. Other keywords go to `ls.make_problem`
    (dtype, batch_size, output, shift_labels, …). `.history` holds every measurement."""

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
        trainer=None,
        **problem,
    ):
        self.tracker = Tracker(
            data, loss, every_n_steps, k, k_bottom, tol, max_products, max_overhead,
            warm_start, prefix, problem,
        )  # fmt: skip
        self.trainer = trainer

    @property
    def history(self):
        return self.tracker.history

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if state.is_world_process_zero and model is not None:
            self.tracker.prepare(model)
        return control

    def on_step_end(self, args, state, control, model=None, optimizer=None, **kwargs):
        if not state.is_world_process_zero or model is None:
            return control  # one process measures (each would compute the same numbers)
        metrics = self.tracker.step_end(model, state.global_step, optimizer)
        if metrics:
            if self.trainer is not None:
                self.trainer.log(dict(metrics))
            else:
                state.log_history.append({**metrics, "step": state.global_step})
        return control
