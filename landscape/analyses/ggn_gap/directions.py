"""dᵀHd, dᵀGd and dᵀTd along named unit directions."""

from __future__ import annotations

import torch
from torch import Tensor

from landscape.analyses.ggn_gap.parts import GapPart
from landscape.analyses.ggn_gap.products import apply_blocked, generator
from landscape.analyses.ggn_gap.report import Direction
from landscape.analyses.ggn_gap.settings import GgnGapSettings
from landscape.problem import Problem


def directions(
    problem: Problem, part: GapPart, settings: GgnGapSettings
) -> tuple[list[Direction], dict[str, Tensor]]:
    """dᵀHd, dᵀGd, dᵀTd for eigenvectors of H, G and T, the gradient and random unit d."""
    named = _named(problem, part, settings)
    D = torch.stack([v / v.norm() for _, v in named], dim=1)
    H, G = part.operators
    HD, GD = apply_blocked(H, D), apply_blocked(G, D)
    dHd = (D * HD).sum(0).double().tolist()
    dGd = (D * GD).sum(0).double().tolist()
    dTd = (D * (HD - GD)).sum(0).double().tolist()
    out = []
    for (name, _), h, gg, t in zip(named, dHd, dGd, dTd):
        denom = abs(gg) + abs(t)
        out.append(Direction(name, h, gg, t, abs(t) / denom if denom > 0 else 0.0))
    return out, {name: D[:, i] for i, (name, _) in enumerate(named)}


def _named(problem: Problem, part: GapPart, settings: GgnGapSettings) -> list[tuple[str, Tensor]]:
    """The directions by name: extreme eigenvectors, the unit gradient (unless 0), random."""
    eig = part.eig
    named = [
        ("hessian top-1", eig.hessian.top_vectors[:, 0]),
        ("hessian bottom-1", eig.hessian.bottom_vectors[:, 0]),
        ("ggn top-1", eig.ggn.top_vectors[:, 0]),
        ("t bottom-1", eig.t.bottom_vectors[:, 0]),
    ]
    g = problem.gradient()
    if float(g.norm()) > 0:
        named.append(("gradient", g / g.norm()))
    gen = generator(problem, settings.seed + 1)
    for i in range(settings.random_directions):
        v = torch.randn(
            problem.num_params, generator=gen, dtype=problem.dtype, device=problem.device
        )
        named.append((f"random-{i + 1}", v / v.norm()))
    return named
