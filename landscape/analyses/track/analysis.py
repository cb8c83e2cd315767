"""Curvature over a training run: one problem, each checkpoint's θ (and buffers) swapped in.

Each λ solve starts from the previous checkpoint's Ritz vectors (estimators/warm.py) unless
`warm` is off; its certificates are a cold solve's. A checkpoint that fails mid-run (NaN
weights, a numerical failure) is reported in its row and the rest go on."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import torch

from landscape.analyses.sharpness.adam import analyse_adam, optimizer_state_of, resolve_adam
from landscape.analyses.sharpness.momentum import momentum_of
from landscape.analyses.track.checkpoints import Entry, name_number, order, step_of
from landscape.analyses.track.proxy import critical_sharpness
from landscape.analyses.track.report import (
    AdamRow,
    ProxyRow,
    Row,
    TrackReport,
    TrackSettings,
    row_from_dict,
)
from landscape.errors import InputError, LandscapeError
from landscape.estimators.lanczos import extreme_eigenpairs
from landscape.load.checkpoint import read_state, unwrapped
from landscape.problem import Problem
from landscape.report import to_jsonable


def plan(problem: Problem, paths: list[Path], settings: TrackSettings) -> tuple[list[Entry], str]:
    """Read every checkpoint once (metadata, architecture, optimizer state when Adam is asked)
    before computing anything: bad input stops here, naming the file."""
    entries = []
    for path in paths:
        state, metadata = _read(problem, path, settings.trust)
        _check_architecture(problem, state, path)
        if "adam" in settings.metrics:
            _check_adam(problem, optimizer_state_of(metadata), settings, path)
        entries.append(Entry(path, step_of(metadata), name_number(path)))
    return order(entries)


def analyse_track(
    problem: Problem,
    entries: list[Entry],
    order_used: str,
    settings: TrackSettings,
    *,
    cache: Path | None = None,
    on_row: Callable[[Row], None] | None = None,
) -> TrackReport:
    began, rows, previous = time.perf_counter(), [], None
    for entry in entries:
        key = _cache_key(entry.path, settings) if cache else None
        row = _cached(cache, key)
        if row is None:
            row, result = _safe_row(problem, entry, settings, previous)
            previous = result if settings.warm and result is not None else previous
            if cache and row.error is None:
                _store(cache, key, row)
        rows.append(row)
        if on_row:
            on_row(row)
    return TrackReport(
        order=order_used,
        num_params=problem.num_params,
        metrics=list(settings.metrics),
        tol=settings.tol,
        warm=settings.warm,
        checkpoints=rows,
        products=sum(r.products + (r.adam.products if r.adam else 0) for r in rows),
        seconds=time.perf_counter() - began,
    )


def _safe_row(problem, entry, settings, previous):
    began = time.perf_counter()
    try:
        row, result = _row(problem, entry, settings, previous)
    except (LandscapeError, RuntimeError, ValueError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Row(str(entry.path), entry.step, error=message), None
    return replace(row, seconds=time.perf_counter() - began), result


def _row(problem: Problem, entry: Entry, settings: TrackSettings, previous):
    state, metadata = _read(problem, entry.path, settings.trust)
    here = _swap(problem, state, entry.path)
    want = set(settings.metrics)
    fields: dict = {"path": str(entry.path), "step": entry.step}
    optimizer = optimizer_state_of(metadata)
    momentum = momentum_of(None, False, optimizer)
    lr, source = _lr(settings.lr, optimizer)
    if "lr" in want and lr is not None:
        fields.update(lr=lr, lr_source=source, edge=momentum.limit / lr, momentum=momentum.name)
    loss, grad = here.loss_and_gradient() if want & {"loss", "proxy"} else (None, None)
    if "loss" in want:
        fields["loss"] = loss
    result = None
    if "lambda_max" in want:
        result = _eigen(here, settings, previous)
        fields.update(top=result.top, bottom=result.bottom, products=result.products)
        fields["warm"] = previous is not None
    if "proxy" in want:
        guess = 2 / result.top[0].value if result and result.top[0].value > 0 else (lr or 1e-2)
        p = critical_sharpness(here, loss, grad, guess)
        fields["proxy"] = ProxyRow(p.value, p.error_bound, p.losses, p.direction)
    if "adam" in want:
        fields["adam"] = _adam(here, optimizer, settings)
    return Row(**fields), result


def _eigen(problem, settings: TrackSettings, previous):
    from landscape.curvature import HessianOperator

    op = HessianOperator(problem, settings.strategy)
    start = previous.start if previous is not None else None
    return extreme_eigenpairs(
        op, settings.k, settings.k_bottom, tol=settings.tol, max_products=settings.max_products,
        seed=settings.seed, start=start,
    )  # fmt: skip


def _adam(problem, optimizer, settings: TrackSettings) -> AdamRow:
    from landscape.curvature import HessianOperator

    pair, reason = resolve_adam(problem, optimizer, settings.lr)
    if pair is None:
        raise InputError(reason, "save an Adam optimizer's state_dict() with the checkpoint")
    op = HessianOperator(problem, settings.strategy)
    report = analyse_adam(
        op, pair[0], pair[1], diagonal=False, tol=settings.tol, seed=settings.seed
    )
    p = report.preconditioned
    return AdamRow(
        p.value if p else None, p.error_bound if p else None, bool(p and p.converged),
        report.threshold, report.products,
    )  # fmt: skip


def _check_adam(problem: Problem, optimizer: dict | None, settings, path: Path) -> None:
    """Adam's sharpness needs Adam's state in every checkpoint (an SGD state will not do)."""
    if optimizer is None:
        raise InputError(
            f"checkpoint '{path}' holds no optimizer state, which Adam's sharpness needs",
            "save the optimizer's state_dict() with each checkpoint, or leave adam out",
        )
    pair, reason = resolve_adam(problem, optimizer, settings.lr)
    if pair is None:
        raise InputError(
            f"checkpoint '{path}': {reason}",
            "save an Adam optimizer's state_dict() with each checkpoint, or leave adam out",
        )


def _lr(option: float | None, optimizer: dict | None) -> tuple[float | None, str | None]:
    """The learning rate: the option, else the optimizer state's first group's (a scheduler
    writes its current value there before the state is saved)."""
    if option is not None:
        return float(option), "option"
    groups = (optimizer or {}).get("param_groups") or []
    if groups and isinstance(groups[0].get("lr"), int | float) and groups[0]["lr"] > 0:
        return float(groups[0]["lr"]), "optimizer state"
    return None, None


def _read(problem: Problem, path: Path, trust: bool) -> tuple[dict, dict]:
    """A checkpoint's state (a wrapper's, e.g. a LightningModule's, unwrapped) and metadata."""
    state, metadata = read_state(path, trust)
    return unwrapped(state, problem.model.state_dict()), metadata


def _check_architecture(problem: Problem, state: dict, path: Path) -> None:
    for name, param in zip(problem.names, problem.params, strict=True):
        tensor = state.get(name)
        if not isinstance(tensor, torch.Tensor) or tensor.shape != param.shape:
            got = "missing" if tensor is None else f"of shape {tuple(tensor.shape)}"
            raise InputError(
                f"checkpoint '{path}' is another architecture: '{name}' is {got}, "
                f"the model's is {tuple(param.shape)}",
                "track checkpoints of one model, built by the same factory",
            )


def _swap(problem: Problem, state: dict, path: Path) -> Problem:
    """The problem at this checkpoint's θ; its buffers copied into the working model."""
    flat = torch.cat([state[n].reshape(-1).to(problem.dtype) for n in problem.names])
    if not bool(torch.isfinite(flat).all()):
        raise InputError(f"checkpoint '{path}' holds NaN or inf weights", "skip this checkpoint")
    with torch.no_grad():
        for name, buf in problem.model.named_buffers():
            if name in state and state[name].shape == buf.shape:
                buf.copy_(state[name])
    return problem.with_params(flat.to(problem.device))


def _cache_key(path: Path, settings: TrackSettings) -> str:
    digest = hashlib.sha256(path.read_bytes())
    digest.update(json.dumps(to_jsonable(asdict(settings)), sort_keys=True).encode())
    return digest.hexdigest()[:32]


def _cached(cache: Path | None, key: str | None) -> Row | None:
    if cache is None or not (cache / f"{key}.json").is_file():
        return None
    try:
        return replace(row_from_dict(json.loads((cache / f"{key}.json").read_text())), cached=True)
    except (ValueError, TypeError, KeyError):
        return None  # an unreadable entry is computed again


def _store(cache: Path, key: str, row: Row) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    (cache / f"{key}.json").write_text(json.dumps(to_jsonable(row)))
