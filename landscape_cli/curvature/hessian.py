"""Hessian-vector products H V of the dataset loss.

Three routes, all exact (they differ in cost, see benchmarks/products.py):
- "kept-graph": the gradient's graph (create_graph=True) is built once over all batches and
  kept; each product is one backward pass through it. Cheapest per product; memory holds the
  graphs of every batch.
- "double-backward": the gradient graph is rebuilt for every product, batch by batch. Same
  arithmetic, memory of one batch.
- "forward-over-reverse": torch.func.jvp of torch.func.grad, batch by batch.
"auto" keeps the graph when its estimated size fits the memory budget, else double-backward.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.func import grad, jvp

from landscape_cli.curvature.base import CurvatureOperator
from landscape_cli.curvature.memory import choose_kept_graph
from landscape_cli.errors import InputError
from landscape_cli.problem import Problem, flatten, unflatten

STRATEGIES = ("auto", "kept-graph", "double-backward", "forward-over-reverse")


class HessianOperator(CurvatureOperator):
    name = "hessian"
    psd = False

    def __init__(self, problem: Problem, strategy: str = "auto"):
        super().__init__(problem.num_params, problem.dtype, problem.device)
        if strategy not in STRATEGIES:
            raise InputError(f"unknown product strategy '{strategy}'", f"use {STRATEGIES}")
        self.problem = problem
        if strategy == "auto":
            strategy = (
                "kept-graph"
                if choose_kept_graph(problem, self._graph_bytes)
                else ("double-backward")
            )
        self.strategy = strategy
        self._graph = self._build_graph() if strategy == "kept-graph" else None

    # -- kept graph ---------------------------------------------------------------------------
    def _gradient_graph(self, leaves: list[Tensor], batch) -> Tensor:
        loss = self.problem.batch_loss(leaves, batch)
        grads = torch.autograd.grad(loss, leaves, create_graph=True, allow_unused=True)
        return flatten([torch.zeros_like(p) if g is None else g for g, p in zip(grads, leaves)])

    def _graph_bytes(self, leaves, batch) -> Tensor:
        return self._gradient_graph(leaves, batch)

    def _build_graph(self):
        leaves = self.problem.leaves()
        g = self.problem.batch_sum(lambda b: self._gradient_graph(leaves, b))
        check_twice_differentiable(g)
        return leaves, g

    def _kept_graph(self, V: Tensor) -> Tensor:
        leaves, g = self._graph
        return backward_block(g, leaves, V)

    # -- recomputed ---------------------------------------------------------------------------
    def _double_backward(self, V: Tensor) -> Tensor:
        def part(batch):
            leaves = self.problem.leaves()
            g = self._gradient_graph(leaves, batch)
            check_twice_differentiable(g)
            return backward_block(g, leaves, V, retain=V.shape[1] > 1)

        return self.problem.batch_sum(part)

    def _forward_over_reverse(self, V: Tensor) -> Tensor:
        problem = self.problem

        def part(batch):
            def loss_of(params):
                return problem.batch_loss(params, batch)

            cols = []
            for j in range(V.shape[1]):
                tangent = unflatten(V[:, j], problem.params)
                _, hv = jvp(grad(loss_of), (problem.params,), (tangent,))
                cols.append(flatten(hv))
            return torch.stack(cols, dim=1)

        return problem.batch_sum(part)

    def _matmat(self, V: Tensor) -> Tensor:
        if self.strategy == "kept-graph":
            return self._kept_graph(V)
        if self.strategy == "double-backward":
            return self._double_backward(V)
        return self._forward_over_reverse(V)


def check_twice_differentiable(g: Tensor) -> None:
    if not g.requires_grad:
        raise InputError(
            "the model's gradient does not depend on its parameters through autograd",
            "the model cannot be differentiated twice: remove detach()/no_grad from forward",
        )


def backward_block(out: Tensor, leaves: list[Tensor], V: Tensor, retain: bool = True) -> Tensor:
    """Σ_i V[i, j]·∂out_i/∂θ for every column j: vector-Jacobian products through a graph."""
    last = V.shape[1] - 1
    try:
        cols = [
            torch.autograd.grad(
                out, leaves, V[:, j], allow_unused=True, retain_graph=retain or j < last
            )
            for j in range(V.shape[1])
        ]
    except RuntimeError as exc:
        if _is_missing_derivative(exc):
            first = str(exc).splitlines()[0]
            raise InputError(
                f"the model cannot be differentiated twice ({first})",
                "replace the operation or use a model built from twice-differentiable layers",
            ) from None
        raise
    if all(g is None for g in cols[0]):  # the graph is cut (detach, once_differentiable)
        raise InputError(
            "the model cannot be differentiated twice: no second derivative reaches the parameters",
            "remove detach() and once-differentiable custom functions from forward",
        )
    return torch.stack([flatten(_fill(c, leaves)) for c in cols], dim=1)


def _is_missing_derivative(exc: Exception) -> bool:
    text = str(exc)
    return (
        ("derivative for" in text and "not implemented" in text)
        or "does not require grad" in text
        or "once_differentiable" in text
    )


def _fill(grads, leaves):
    return [torch.zeros_like(p) if g is None else g for g, p in zip(grads, leaves)]
