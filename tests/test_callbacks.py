"""The training callbacks (landscape/callbacks): the λ_max they log equals a dense float64
Hessian's at the weights of that step, within the logged bound; training with a callback ends
with the same weights, bit for bit, as without it; the overhead budget lowers the cadence; the
solve is warm-started from the previous call's Ritz vectors, and takes fewer products."""

from __future__ import annotations

import copy
import logging
import random

import numpy as np
import pytest
import torch
from dense import dense_hessian
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import landscape as ls
from landscape.callbacks import core
from landscape.callbacks.core import Cadence, Tracker, untouched

STEPS, EVERY = 6, 2


def data(n=48, d=5, c=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randint(0, c, (n,), generator=g)


def net(seed=0):
    """BatchNorm (statistics that move) and dropout (draws from the global generator)."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(5, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Dropout(0.2), nn.Linear(8, 3)
    )


def dense_top(model, x, y) -> float:
    problem = ls.make_problem(model, (x, y), "cross-entropy", device="cpu")
    return torch.linalg.eigvalsh(dense_hessian(problem))[-1].item()


def check_against_dense(history, weights, model, x, y):
    assert [m.step for m in history] == list(range(EVERY, STEPS + 1, EVERY))
    for m in history:
        model.load_state_dict(weights[m.step])
        truth = dense_top(model, x, y)
        value, bound = (
            m.metrics["curvature/lambda_max"],
            m.metrics["curvature/lambda_max_error_bound"],
        )
        assert abs(value - truth) <= bound + 1e-9 * abs(truth), (m.step, value, truth, bound)
    assert len({m.metrics["curvature/lambda_max"] for m in history}) == len(history)  # it moved


# -- the shared core ------------------------------------------------------------------------


def test_untouched_restores_every_random_state_and_the_data_generator():
    gen = torch.Generator().manual_seed(3)
    loader = DataLoader(TensorDataset(*data()), batch_size=8, shuffle=True, generator=gen)
    torch.manual_seed(5), np.random.seed(5), random.seed(5)
    want = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(2, generator=gen))
    model = net().train()
    torch.manual_seed(5), np.random.seed(5), random.seed(5), gen.manual_seed(3)
    with untouched(model, loader):
        torch.rand(7), np.random.rand(7), random.random(), list(loader)
        model.eval()
        torch.set_grad_enabled(False)
    got = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(2, generator=gen))
    assert torch.equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    assert got[2] == want[2] and torch.equal(got[3], want[3])
    assert model.training and all(m.training for m in model.modules())
    assert torch.is_grad_enabled()


def test_a_measurement_leaves_the_model_and_the_random_state_as_they_were():
    x, y = data()
    model = net().train()
    model(x).logsumexp(1).mean().backward()
    before = copy.deepcopy(model.state_dict()), [p.grad.clone() for p in model.parameters()]
    torch.manual_seed(9)
    state = torch.get_rng_state()
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)  # draws from torch's
    metrics = Tracker(loader, every_n_steps=1).step_end(model, 1)
    assert metrics["curvature/lambda_max"] > 0
    assert torch.equal(torch.get_rng_state(), state)
    after = model.state_dict()
    assert all(torch.equal(before[0][k], after[k]) for k in after)
    assert all(torch.equal(g, p.grad) for g, p in zip(before[1], model.parameters()))
    assert model.training


def test_the_tracker_gives_lambda_max_and_min_within_their_bounds_and_the_sgd_edge():
    x, y = data()
    model = net().eval()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    metrics = Tracker((x, y), every_n_steps=1, k_bottom=1, tol=1e-6).step_end(model, 1, opt)
    eigs = torch.linalg.eigvalsh(
        dense_hessian(ls.make_problem(model, (x, y), "cross-entropy", device="cpu"))
    )
    for name, truth in (("lambda_max", eigs[-1]), ("lambda_min", eigs[0])):
        value, bound = metrics[f"curvature/{name}"], metrics[f"curvature/{name}_error_bound"]
        assert abs(value - truth.item()) <= bound + 1e-10, name
    assert metrics["curvature/two_over_lr"] == pytest.approx((2 + 1.8) / (1 + 1.8) / 0.05)
    assert metrics["curvature/lr"] == 0.05
    adam = torch.optim.Adam(model.parameters(), lr=1e-3)
    assert core.stability(adam) == {"lr": 1e-3}  # Adam's edge is preconditioned: not 2/η


def test_bad_inputs_stop_the_run_before_training_and_bad_settings_at_once():
    x, y = data()
    with pytest.raises(ls.InputError, match="loss 'hinge' is not known"):
        Tracker((x, y), "hinge").prepare(net())
    with pytest.raises(ls.InputError, match="every_n_steps"):
        Tracker((x, y), every_n_steps=0)
    with pytest.raises(ls.InputError, match="max_overhead"):
        Tracker((x, y), max_overhead=-0.1)


def test_the_overhead_budget_lowers_the_cadence():
    cadence, now, taken = Cadence(every=1, max_overhead=0.1), 0.0, []
    for step in range(1, 101):  # training steps of 1 s, measurements of 2 s
        now += 1.0
        cadence.arrive(now)
        if cadence.due(step):
            taken.append(step)
            cadence.spent(step, 2.0)
            now += 2.0
        cadence.leave(now)
    assert taken == [1, 41, 61, 81]  # the next when 2 s more keep it within 10% (timed from step 1)
    assert cadence.measuring <= 0.1 * cadence.training
    assert cadence.skipped == 100 - len(taken)
    free = Cadence(every=10, max_overhead=None)
    assert [s for s in range(1, 41) if free.due(s) and not free.spent(s, 5.0)] == [10, 20, 30, 40]


def test_a_slow_solve_under_a_budget_is_measured_less_often(monkeypatch):
    import time

    real = ls.extreme_eigenpairs

    def slow(*args, **kwargs):
        time.sleep(0.05)
        return real(*args, **kwargs)

    monkeypatch.setattr("landscape.api.blocks.extreme_eigenpairs", slow)
    x, y = data()
    model, opt = net(), None
    free, budget = (
        Tracker((x, y), every_n_steps=1),
        Tracker((x, y), every_n_steps=1, max_overhead=0.05),
    )
    for step in range(1, 9):
        time.sleep(0.005)  # a training step
        free.step_end(model, step, opt), budget.step_end(model, step, opt)
    assert len(free.history) == 8 and len(budget.history) == 1
    assert budget.cadence.skipped == 7


def test_the_second_call_starts_from_the_first_calls_ritz_vectors(monkeypatch):
    real, seen = ls.extreme_eigenpairs, []

    def solver(op, *, start=None, **kwargs):
        result = real(op, start=start, **kwargs)
        seen.append((None if start is None else start.clone(), result))
        return result

    monkeypatch.setattr("landscape.api.blocks.extreme_eigenpairs", solver)
    x, y = data()
    model = net().train()
    trained = copy.deepcopy(model)
    with torch.no_grad():  # a step later: the weights moved a little
        for p in trained.parameters():
            p.add_(1e-3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(2)))
    warm, cold = (
        Tracker((x, y), every_n_steps=1, k=2),
        Tracker((x, y), every_n_steps=1, k=2, warm_start=False),
    )
    for tracker in (warm, cold):
        tracker.step_end(model, 1), tracker.step_end(trained, 2)
    (none, first), (start, _), *_ = seen
    assert none is None and torch.equal(start, first.start)  # its Ritz vectors, λ_max's first
    assert start.shape[1] == sum(p.numel() for p in model.parameters())
    assert torch.allclose(start[0].abs(), first.top_vectors[:, 0].abs())
    assert [m.warm for m in warm.history] == [False, True]
    assert [m.warm for m in cold.history] == [False, False] and seen[3][0] is None
    w, c = warm.history[1], cold.history[1]
    assert w.products < c.products  # measured: 7 against 16
    assert abs(w.metrics["curvature/lambda_max"] - c.metrics["curvature/lambda_max"]) <= (
        w.metrics["curvature/lambda_max_error_bound"]
        + c.metrics["curvature/lambda_max_error_bound"]
    )


# -- PyTorch Lightning ----------------------------------------------------------------------


def lightning_fit(tmp_path, callbacks, name="run"):
    pl = pytest.importorskip("lightning.pytorch")
    from lightning.pytorch.loggers import CSVLogger

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = net()

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, batch_idx):
            return nn.functional.cross_entropy(self(batch[0]), batch[1])

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.5, momentum=0.9)

    pl.seed_everything(0, verbose=False)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    module = Module()
    loader = DataLoader(TensorDataset(*data()), batch_size=8, shuffle=True)
    trainer = pl.Trainer(
        max_steps=STEPS, accelerator="cpu", devices=1, logger=CSVLogger(tmp_path, name=name),
        log_every_n_steps=4, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=callbacks,
    )  # fmt: skip
    trainer.fit(module, loader)
    return module, trainer


def capture_weights(pl):
    class Capture(pl.Callback):  # after the curvature callback: the weights it measured
        weights: dict = {}

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.weights[trainer.global_step] = copy.deepcopy(pl_module.net.state_dict())

    return Capture()


@pytest.fixture(scope="module")
def lightning_plain(tmp_path_factory):
    return lightning_fit(tmp_path_factory.mktemp("plain"), [])[0]


def test_lightning_logs_the_dense_lambda_max_and_leaves_training_bit_identical(
    tmp_path, lightning_plain
):
    pl = pytest.importorskip("lightning.pytorch")
    from landscape.callbacks.lightning import CurvatureCallback

    x, y = data()
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)  # reading it draws
    callback, capture = CurvatureCallback(loader, every_n_steps=EVERY), capture_weights(pl)
    with_it, trainer = lightning_fit(tmp_path, [callback, capture], "with")
    without = lightning_plain
    check_against_dense(callback.history, capture.weights, net(), x, y)
    a, b = with_it.state_dict(), without.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a) and a.keys() == b.keys()
    assert all(
        m.metrics["curvature/two_over_lr"] == pytest.approx(3.8 / 0.5) for m in callback.history
    )
    rows = [r.split(",") for r in (tmp_path / "with/version_0/metrics.csv").read_text().split()]
    value, step = rows[0].index("curvature/lambda_max"), rows[0].index("step")
    logged = [(int(r[step]), float(r[value])) for r in rows[1:] if r[value]]
    # once per measurement, at its step (log_every_n_steps=4 would relog a stale value)
    assert logged == [(m.step, m.metrics["curvature/lambda_max"]) for m in callback.history]
    assert trainer.callback_metrics["curvature/lambda_max"].item() == logged[-1][1]


def test_lightning_a_callback_that_draws_one_random_number_changes_the_weights(
    tmp_path, lightning_plain
):
    """The bit-identity check above can fail: dropout and the shuffle read the generator."""
    pl = pytest.importorskip("lightning.pytorch")

    class Draw(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if trainer.global_step == EVERY:
                torch.rand(1)

    a, b = lightning_fit(tmp_path, [Draw()], "draw")[0], lightning_plain
    assert not torch.equal(a.net[0].weight, b.net[0].weight)


# -- Hugging Face Trainer -------------------------------------------------------------------


class Tiny(nn.Module):
    """What the Trainer takes: keyword inputs, a dict with the loss when labels are given."""

    def __init__(self):
        super().__init__()
        self.net = net()

    def forward(self, x, labels=None):
        logits = self.net(x)
        if labels is None:
            return {"logits": logits}
        return {"loss": nn.functional.cross_entropy(logits, labels), "logits": logits}


class Examples(torch.utils.data.Dataset):
    def __init__(self):
        self.x, self.y = data()

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"x": self.x[i], "labels": self.y[i]}


def hf_fit(tmp_path, make_callbacks):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("accelerate")  # the Trainer's
    transformers.logging.set_verbosity_error()
    model = Tiny()
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), max_steps=STEPS, per_device_train_batch_size=8,
        report_to="none", save_strategy="no", logging_steps=100, seed=0, use_cpu=True,
        disable_tqdm=True,
    )  # fmt: skip
    sgd = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    trainer = transformers.Trainer(
        model=model, args=args, train_dataset=Examples(), optimizers=(sgd, None)
    )
    for callback in make_callbacks(trainer):
        trainer.add_callback(callback)
    trainer.train()
    return model, trainer


def test_transformers_logs_the_dense_lambda_max_and_leaves_training_bit_identical(tmp_path):
    transformers = pytest.importorskip("transformers")
    from landscape.callbacks.transformers import CurvatureCallback

    class Reporter(transformers.TrainerCallback):  # stands for TensorBoard, W&B, …
        logs: list = []

        def on_log(self, args, state, control, logs=None, **kwargs):
            self.logs.append((state.global_step, dict(logs)))

    class Capture(transformers.TrainerCallback):
        weights: dict = {}

        def on_step_end(self, args, state, control, model=None, **kwargs):
            self.weights[state.global_step] = copy.deepcopy(model.net.state_dict())

    x, y = data()
    callback, reporter, capture = None, Reporter(), Capture()

    def callbacks(trainer):
        nonlocal callback
        loader = DataLoader(Examples(), batch_size=16, shuffle=True)  # reading it draws
        callback = CurvatureCallback(loader, every_n_steps=EVERY, trainer=trainer, target="labels")
        return [reporter, callback, capture]

    with_it, trainer = hf_fit(tmp_path / "with", callbacks)
    without, _ = hf_fit(tmp_path / "without", lambda trainer: [])
    check_against_dense(callback.history, capture.weights, net(), x, y)
    a, b = with_it.state_dict(), without.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a) and a.keys() == b.keys()
    logged = [
        (s, v["curvature/lambda_max"]) for s, v in reporter.logs if "curvature/lambda_max" in v
    ]
    assert logged == [(m.step, m.metrics["curvature/lambda_max"]) for m in callback.history]
    history = [h for h in trainer.state.log_history if "curvature/lambda_max" in h]
    assert [(h["step"], h["curvature/lambda_max"]) for h in history] == logged
    rates = [h["curvature/lr"] for h in history]  # after the scheduler's step: the next update's
    assert rates[0] > rates[1] > 0 == rates[2]  # the linear schedule's; at 0 no edge is logged
    for h in history[:2]:
        assert h["curvature/two_over_lr"] == pytest.approx(3.8 / h["curvature/lr"])
    assert "curvature/two_over_lr" not in history[2]


def test_transformers_without_the_trainer_logs_into_the_history(tmp_path):
    pytest.importorskip("transformers")
    from landscape.callbacks.transformers import CurvatureCallback

    x, y = data()
    callback = CurvatureCallback(({"x": x}, y), every_n_steps=3)
    _, trainer = hf_fit(tmp_path, lambda trainer: [callback])
    history = [h for h in trainer.state.log_history if "curvature/lambda_max" in h]
    assert [h["step"] for h in history] == [3, 6]
    assert [h["curvature/lambda_max"] for h in history] == [
        m.metrics["curvature/lambda_max"] for m in callback.history
    ]
