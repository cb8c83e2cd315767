"""Directions in parameter space for slices and surfaces, each a list of tensors shaped like θ.

- `random`: seeded Gaussian directions, normalised (Li et al. 2018, "Visualizing the loss
  landscape of neural nets") by `filter`: each filter of a weight tensor (the slice along
  dim 0: a Linear row, a Conv output channel with all its input channels and taps, an
  Embedding row) gets the norm of the same filter in θ; `layer`: each weight tensor gets the
  norm of the same tensor in θ; `none`: the Gaussian direction scaled to unit norm (t is then
  the Euclidean distance). Under `filter` and `layer` the 1-D parameters (biases, the
  weights and biases of norm layers) get zero, as in Li et al.'s code (`ignore='biasbn'`),
  unless θ holds nothing else (then each tensor is normalised whole);
- `hessian`: the top Hessian eigenvectors (unit, certified by the solver);
- files: state dicts of θ's parameters (name → tensor), used as given or normalised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from landscape.errors import InputError
from landscape.estimators.results import Eigenpair
from landscape.problem import Problem, flatten

NORMALIZATIONS = ("filter", "layer", "none")


@dataclass(frozen=True)
class Direction:
    """One direction d: how it was made, ‖d‖ and ‖d‖/‖θ‖; the tensors are not serialised."""

    label: str
    kind: str  # "random" | "hessian" | "file"
    normalize: str  # "filter" | "layer" | "none"
    norm: float
    relative_norm: float  # ‖d‖ / ‖θ‖
    eigenpair: Eigenpair | None = None  # hessian directions: λ and its certified bound
    tensors: list[Tensor] | None = field(default=None, repr=False)

    @property
    def flat(self) -> Tensor:
        return flatten(self.tensors)


def direction(label: str, kind: str, normalize: str, tensors: list[Tensor], params, pair=None):
    d = flatten(tensors).double()
    theta = float(flatten(params).double().norm())
    norm = float(d.norm())
    return Direction(label, kind, normalize, norm, norm / theta if theta else 0.0, pair, tensors)


# -------------------------------------------------------------------------- normalisation
def filter_norms(w: Tensor) -> Tensor:
    """‖w_i‖ of each slice w_i = w[i] (flattened), shaped to broadcast against w."""
    return torch.linalg.vector_norm(w.flatten(1), dim=1).reshape(-1, *[1] * (w.ndim - 1))


def normalise(d: list[Tensor], params: list[Tensor], mode: str) -> list[Tensor]:
    """d rescaled as `mode` says (see the module's docstring), tensor by tensor."""
    if mode == "none":
        return list(d)
    if mode not in NORMALIZATIONS:
        raise InputError(f"unknown normalisation '{mode}'", f"use {', '.join(NORMALIZATIONS)}")
    if all(p.ndim <= 1 for p in params):  # nothing but 1-D parameters: each tensor whole
        return [_scaled(di, p.norm()) for di, p in zip(d, params, strict=True)]
    out = []
    for di, p in zip(d, params, strict=True):
        if p.ndim <= 1:
            out.append(torch.zeros_like(p))
        elif mode == "filter":
            out.append(di * filter_norms(p) / filter_norms(di).clamp_min(1e-30))
        else:
            out.append(_scaled(di, p.norm()))
    return out


def _scaled(d: Tensor, norm: Tensor) -> Tensor:
    return d * norm / d.norm().clamp_min(1e-30)


def _unit(d: list[Tensor]) -> list[Tensor]:
    norm = flatten(d).norm().clamp_min(1e-30)
    return [di / norm for di in d]


def filter_normalised_direction(problem: Problem, generator: torch.Generator) -> Tensor:
    """A flat Gaussian direction rescaled filter by filter to the norms of θ's filters (the
    1D slices of `sharpness`): 1-D parameters get 0, unless θ holds nothing else."""
    parts = []
    for p in problem.params:
        d = torch.randn(p.shape, generator=generator, dtype=torch.float64).to(p)
        if p.ndim >= 2:
            d = d * filter_norms(p) / filter_norms(d).clamp_min(1e-30)
        else:
            d = torch.zeros_like(p)
        parts.append(d.reshape(-1))
    flat = torch.cat(parts)
    if float(flat.norm()) == 0:  # only 1-D parameters: normalise each tensor whole
        parts = []
        for p in problem.params:
            d = torch.randn(p.shape, generator=generator, dtype=torch.float64).to(p)
            parts.append((d * p.norm() / d.norm().clamp_min(1e-30)).reshape(-1))
        flat = torch.cat(parts)
    return flat


# ----------------------------------------------------------------------------- the kinds
def random_directions(problem: Problem, count: int, mode: str, seed: int) -> list[Direction]:
    """`count` seeded Gaussian directions (float64 draws on the CPU), normalised by `mode`."""
    gen = torch.Generator().manual_seed(int(seed))
    out = []
    for i in range(count):
        raw = [
            torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p) for p in problem.params
        ]
        tensors = _unit(raw) if mode == "none" else normalise(raw, problem.params, mode)
        label = f"random {i + 1} ({'unit norm' if mode == 'none' else _phrase(mode)})"
        out.append(direction(label, "random", mode, tensors, problem.params))
    return out


def file_directions(
    problem: Problem, files: dict[Path, dict[str, Tensor]], mode: str
) -> list[Direction]:
    """Directions from state dicts of θ's parameters, checked name by name and shape by shape."""
    out = []
    for path, state in files.items():
        raw = [
            t.to(dtype=p.dtype, device=p.device)
            for t, p in zip(_matched(problem, path, state), problem.params, strict=True)
        ]
        tensors = normalise(raw, problem.params, mode)
        out.append(
            direction(f"{path.name} ({_phrase(mode)})", "file", mode, tensors, problem.params)
        )
    return out


def hessian_directions(problem: Problem, eig) -> list[Direction]:
    """The top eigenvectors of a solved EigenResult as directions (unit, certified)."""
    out = []
    for i, pair in enumerate(eig.top):
        v = eig.top_vectors[:, i].to(dtype=problem.dtype, device=problem.device)
        label = (
            f"Hessian eigenvector {i + 1} (λ{'₁₂₃₄₅'[i] if i < 5 else i + 1} = {pair.value:.6g})"
        )
        out.append(direction(label, "hessian", "none", problem.unflatten(v), problem.params, pair))
    return out


def _matched(problem: Problem, path: Path, state: dict[str, Tensor]) -> list[Tensor]:
    missing = [n for n in problem.names if n not in state]
    extra = [n for n in state if n not in problem.names]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {_first(missing)}")
        if extra:
            parts.append(f"unexpected {_first(extra)}")
        raise InputError(
            f"direction file '{path.name}' does not match θ: {'; '.join(parts)}",
            "save a state dict of θ's parameters (name → tensor; see `landscape params`)",
        )
    wrong = [
        f"{n} {tuple(state[n].shape)} (θ: {tuple(p.shape)})"
        for n, p in zip(problem.names, problem.params, strict=True)
        if tuple(state[n].shape) != tuple(p.shape)
    ]
    if wrong:
        raise InputError(
            f"direction file '{path.name}' has tensors of the wrong shape: {_first(wrong)}",
            "each tensor must have the shape of the parameter it is named after",
        )
    bad = [n for n in problem.names if not torch.isfinite(state[n]).all()]
    if bad:
        raise InputError(
            f"direction file '{path.name}' holds NaN or inf values in {_first(bad)}",
            "save a finite direction",
        )
    return [state[n] for n in problem.names]


def _first(items: list[str], n: int = 3) -> str:
    return ", ".join(items[:n]) + (f", ... ({len(items)} in all)" if len(items) > n else "")


def _phrase(mode: str) -> str:
    return {"filter": "filter-normalised", "layer": "layer-normalised", "none": "as given"}[mode]
