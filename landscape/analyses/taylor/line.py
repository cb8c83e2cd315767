"""The loss along a line θ + ηd, evaluated at the step represented in the working dtype."""

from __future__ import annotations

import torch
from torch import Tensor

from landscape.analyses.taylor.kinks import nonsmooth_operations, record_pieces
from landscape.problem import Problem


class LineLoss:
    """L(θ + ηd) with the represented step, counted, with optional kink watching."""

    def __init__(self, problem: Problem):
        self.problem = problem
        self.theta = problem.flat_params()
        self.eps = torch.finfo(problem.dtype).eps
        self.evaluations = 0
        self.nonsmooth = nonsmooth_operations(problem)
        self.base, self._pieces, seen = self.value_and_pieces(self.theta)
        self.kink_modules = sorted(seen)  # the operations whose crossings are counted

    def value(self, flat: Tensor) -> float:
        self.evaluations += 1
        return self.problem.loss_at(flat)

    def point(self, d: Tensor, eta: float) -> Tensor:
        return self.theta + eta * d

    def sample(self, d: Tensor, eta: float, gradient: Tensor, reference) -> tuple:
        """(ΔL, gᵀs, kinks) for the step s = fl(θ + ηd) − θ actually taken; kinks counts the
        activation units whose piece differs from `reference` (θ's), None if not watched."""
        point = self.point(d, eta)
        step = point.double() - self.theta.double()
        if reference is None:
            value, kinks = self.value(point), None
        else:
            value, pieces, _ = self.value_and_pieces(point)
            changed = zip(reference, pieces, strict=True)
            kinks = self.total(sum(int((a != b).sum()) for a, b in changed))
        return value - self.base, float(gradient.double() @ step), kinks

    def total(self, count: int) -> int:
        """A count over every process's examples (the steps chosen must agree on all ranks)."""
        if self.problem.reduce is None:
            return count
        device = self.theta.device  # nccl reduces on the GPU
        return int(self.problem.reduce(torch.tensor(float(count), device=device)))

    def value_and_pieces(self, flat: Tensor) -> tuple[float, list[Tensor], set[str]]:
        with record_pieces(self.problem.model) as record:
            value = self.value(flat)
        return value, record.codes, record.seen

    def reference_pieces(self) -> list[Tensor] | None:
        """The pieces at θ, or None when the loss calls no piecewise operation to watch."""
        return self._pieces if self.kink_modules else None
