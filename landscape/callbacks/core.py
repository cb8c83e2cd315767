"""The engine the training callbacks share: when to measure (every n steps, fewer when an
overhead budget says so) and a measurement that leaves training exactly as it was.

A measurement runs on a deep copy of the live model (ls.make_problem: eval mode, the
analysis dtype), so the model's parameters, gradients, modes and BatchNorm statistics are
never touched. What a copy cannot protect is process state: the solver draws from its own
seeded generator, but reading a DataLoader draws from torch's global generator (and from the
loader's own), so every random state is saved before and restored after (torch, CUDA, numpy,
Python, the data's generators), as are the grad mode, the default dtype and autocast."""

from __future__ import annotations

import copy
import math
import random
import time
import warnings
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

from landscape.errors import InputError, NumericalError

PREFIX = "curvature/"
TOL = 1e-3  # relative residual: the logged bound says how close each value is


@dataclass
class Measurement:
    """One logged step: the metrics as logged, the products the solve took, its seconds,
    whether it started from the previous step's Ritz vectors, and whether it converged."""

    step: int
    metrics: dict[str, float]
    products: int
    seconds: float
    warm: bool
    converged: bool


class Cadence:
    """Measure at every `every`-th step; with `max_overhead` (a fraction, 0.1: 10%), skip a due
    step while the time spent measuring so far plus the last measurement's time would exceed
    that fraction of the training time so far (the time between the hook's calls, less its
    own). The first measurement is always taken: it is what tells its cost."""

    def __init__(self, every: int, max_overhead: float | None):
        if int(every) < 1:
            raise InputError(f"every_n_steps must be ≥ 1, got {every}", "use e.g. 100")
        if max_overhead is not None and not 0 < max_overhead:
            raise InputError(
                f"max_overhead must be a positive fraction, got {max_overhead}", "use e.g. 0.1"
            )
        self.every, self.max_overhead = int(every), max_overhead
        self.training = self.measuring = self.last_cost = 0.0
        self.last_step: int | None = None
        self.skipped = 0
        self._left: float | None = None

    def arrive(self, now: float) -> None:
        """The hook was called at `now`: the time since it last returned was training."""
        if self._left is not None:
            self.training += max(0.0, now - self._left)

    def leave(self, now: float) -> None:
        self._left = now

    def due(self, step: int) -> bool:
        if step <= 0 or step % self.every or step == self.last_step:
            return False
        budget = self.max_overhead
        if budget is not None and self.last_step is not None:
            if self.measuring + self.last_cost > budget * self.training:
                self.skipped += 1
                return False
        return True

    def spent(self, step: int, seconds: float) -> None:
        self.last_step, self.last_cost = step, seconds
        self.measuring += seconds

    @property
    def overhead(self) -> float:
        """The time measuring as a fraction of the training time (nan before any training)."""
        return self.measuring / self.training if self.training else math.nan


@dataclass
class Tracker:
    """λ_max (k top eigenvalues) and, with k_bottom, λ_min of the loss Hessian of a live model,
    each certified (value ± error_bound), warm-started from the last call's Ritz vectors."""

    data: object
    loss: object = "cross-entropy"
    every_n_steps: int = 100
    k: int = 1
    k_bottom: int = 0
    tol: float = TOL
    max_products: int | None = None
    max_overhead: float | None = None
    warm_start: bool = True
    prefix: str = PREFIX
    problem: dict = field(default_factory=dict)  # ls.make_problem's keywords
    history: list[Measurement] = field(default_factory=list)

    def __post_init__(self):
        if self.k < 1 or self.k_bottom < 0:
            raise InputError(f"k={self.k}, k_bottom={self.k_bottom}", "use k ≥ 1, k_bottom ≥ 0")
        self.cadence = Cadence(self.every_n_steps, self.max_overhead)
        self._start: torch.Tensor | None = None
        self._built = None  # the problem, kept between calls (its θ and buffers swapped)

    def step_end(self, model, step: int, optimizer=None, shared=()) -> dict[str, float] | None:
        """Called once a training step is done: the metrics at this step, or None when the
        step is not due. `shared`: objects the model refers to that must not be copied (a
        Lightning module's trainer)."""
        cadence = self.cadence
        cadence.arrive(time.perf_counter())
        try:
            if not cadence.due(step):
                return None
            began = time.perf_counter()
            with untouched(model, self.data):
                got = self._measure(model, optimizer, shared)
            seconds = time.perf_counter() - began
            cadence.spent(step, seconds)
            if got is None:
                return None
            metrics, eig, warm = got
            self.history.append(Measurement(step, metrics, eig.products, seconds, warm, _ok(eig)))
            return metrics
        finally:
            cadence.leave(time.perf_counter())

    def prepare(self, model, shared=()) -> None:
        """Before training: build the problem once, so that bad data, loss or keywords stop
        the run at its start (InputError) rather than at the first measurement, and the
        first measurement does not carry the imports. Not counted as measuring time."""
        import landscape.analyses.sharpness.momentum  # noqa: F401 (imports: not at a step)
        import landscape.estimators.lanczos  # noqa: F401

        with untouched(model, self.data):
            self._built = self._problem(model, shared)

    def _problem_now(self, model, shared):
        """The problem at the live weights: built once (a deep copy, the input checks), then
        each call copies θ and the buffers in; built again if θ changed its names or shapes."""
        if self._built is not None:
            swapped = _swap(self._built, model)
            if swapped is not None:
                return swapped
        self._built = self._problem(model, shared)
        return self._built

    def _problem(self, model, shared):
        from landscape.api import blocks

        clone = copy.deepcopy(model, memo={id(o): o for o in shared})
        kw = {"device": _device_of(model), **self.problem}
        return blocks.make_problem(clone, self.data, self.loss, **kw)

    def _measure(self, model, optimizer, shared):
        from landscape.api import blocks

        try:
            problem = self._problem_now(model, shared)
            ask = {"k": self.k, "k_bottom": self.k_bottom, "tol": self.tol}
            ask.update(max_products=self.max_products, allow_unconverged=True)
            start = self._start  # the last solve's Ritz vectors and its own start's (m, p)
            warm = start is not None and start.shape[-1] == problem.num_params
            ask["start"] = start if warm else None
            eig = blocks.extreme_eigenpairs(blocks.hessian(problem), **ask)
        except NumericalError as exc:  # training goes on; the step is not logged
            warnings.warn(f"curvature not measured: {exc}", RuntimeWarning, stacklevel=4)
            return None
        self._start = eig.start if self.warm_start else None
        return self._metrics(eig, optimizer), eig, warm

    def _metrics(self, eig, optimizer) -> dict[str, float]:
        out, p = {}, self.prefix
        for i, pair in enumerate(eig.top):
            name = "lambda_max" if i == 0 else f"lambda_top_{i + 1}"
            out[p + name], out[f"{p}{name}_error_bound"] = pair.value, pair.error_bound
        if self.k_bottom and eig.bottom:
            pair = eig.bottom[0]
            out[p + "lambda_min"], out[p + "lambda_min_error_bound"] = pair.value, pair.error_bound
        out.update({p + k: v for k, v in stability(optimizer).items()})
        return out


def _swap(problem, model):
    """`problem` at the model's current θ, its buffers (BatchNorm statistics) copied into the
    problem's own copy of the model; None when θ would not be the same parameters."""
    live = dict(model.named_parameters())
    trainable = tuple(n for n, p in live.items() if p.requires_grad)
    same = all(
        n in live and live[n].shape == p.shape for n, p in zip(problem.names, problem.params)
    )
    if not same or trainable != problem.trainable:
        return None
    with torch.no_grad():
        flat = torch.cat([live[n].detach().reshape(-1) for n in problem.names])
        flat = flat.to(device=problem.device, dtype=problem.dtype)
        if not bool(torch.isfinite(flat).all()):
            raise NumericalError(
                "the weights hold NaN or inf at this step", "the run diverged: lower the rate"
            )
        buffers = dict(model.named_buffers())
        for name, buf in problem.model.named_buffers():
            if name in buffers and buffers[name].shape == buf.shape:
                buf.copy_(buffers[name])
    return problem.with_params(flat)


def _ok(eig) -> bool:
    return all(e.converged for e in eig.top + eig.bottom)


def _device_of(model) -> str:
    tensor = next(iter(model.parameters()), None)
    return str(tensor.device) if tensor is not None else "cpu"


def stability(optimizer) -> dict[str, float]:
    """The learning rate and, for SGD (momentum-aware, as `ls.sharpness`), the stability edge
    on λ_max: 2/η for plain SGD, (2 + 2β)/η with heavy-ball momentum β, (2 + 2β)/((1 + 2β)η)
    with Nesterov's. Other optimizers (Adam: a preconditioned edge) give the rate only."""
    from landscape.analyses.sharpness.momentum import momentum_of

    groups = getattr(optimizer, "param_groups", None)
    if not groups or "lr" not in groups[0]:
        return {}
    group = groups[0]
    lr = float(group["lr"].item() if torch.is_tensor(group["lr"]) else group["lr"])
    out = {"lr": lr}
    is_sgd = "momentum" in group and "betas" not in group
    if is_sgd and lr > 0:
        plain = {k: v for k, v in group.items() if k != "params"}
        out["two_over_lr"] = momentum_of(None, False, {"param_groups": [plain]}).limit / lr
    return out


@contextmanager
def untouched(model, data):
    """Run the block, then put back every state training could see: the random states
    (torch, CUDA, numpy, Python, the data's own generators), the modules' modes, the grad
    mode and the default dtype; inside, autocast is off and grad is on."""
    states = _random_states(data)
    modes = [m.training for m in model.modules()]
    grad, dtype = torch.is_grad_enabled(), torch.get_default_dtype()
    try:
        with ExitStack() as stack:
            stack.enter_context(torch.autocast("cpu", enabled=False))
            if torch.cuda.is_available():
                stack.enter_context(torch.autocast("cuda", enabled=False))
            stack.enter_context(torch.enable_grad())
            yield
    finally:
        _restore(states)
        for m, mode in zip(model.modules(), modes, strict=True):
            m.training = mode
        torch.set_grad_enabled(grad)
        torch.set_default_dtype(dtype)


def _random_states(data) -> dict:
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if cuda else None,
        "numpy": np.random.get_state(),
        "python": random.getstate(),
        "data": [(g, g.get_state()) for g in _generators(data)],
    }


def _restore(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] is not None:
        torch.cuda.set_rng_state_all(states["cuda"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])
    for g, state in states["data"]:
        g.set_state(state)


def _generators(data) -> list[torch.Generator]:
    """The generators a DataLoader draws its order from (its own, its samplers')."""
    found = []
    for owner in (data, getattr(data, "sampler", None), getattr(data, "batch_sampler", None)):
        for item in (owner, getattr(owner, "sampler", None)):
            g = getattr(item, "generator", None)
            if isinstance(g, torch.Generator) and all(g is not f for f in found):
                found.append(g)
    return found
