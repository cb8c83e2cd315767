"""Hessian-vector products H V of the dataset loss.

Three routes, all exact (they differ in cost, see benchmarks/products.py):
- "kept-graph": the gradient's graph (create_graph=True) is built once per batch and kept;
  each product is one backward pass through each. Cheapest per product; memory holds the
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

from landscape.curvature.base import AutogradOperator
from landscape.errors import InputError
from landscape.problem import Batch, flatten, unflatten

STRATEGIES = ("auto", "kept-graph", "double-backward", "forward-over-reverse")


class HessianOperator(AutogradOperator):
    name = "hessian"
    psd = False
    routes = STRATEGIES[1:]

    def batch_graph(self, leaves: list[Tensor], batch: Batch) -> tuple | None:
        """The batch's gradient with its graph (none for forward-over-reverse)."""
        if self.strategy == "forward-over-reverse":
            return None
        loss = self.problem.batch_loss(leaves, batch)
        grads = torch.autograd.grad(loss, leaves, create_graph=True, allow_unused=True)
        g = flatten([torch.zeros_like(p) if g is None else g for g, p in zip(grads, leaves)])
        check_twice_differentiable(g)
        return leaves, g

    def batch_product(self, graph, V: Tensor, batch: Batch, retain: bool) -> Tensor:
        if graph is None:
            return self._forward_over_reverse(V, batch)
        leaves, g = graph
        return backward_block(g, leaves, V, retain=retain)

    def _forward_over_reverse(self, V: Tensor, batch: Batch) -> Tensor:
        problem = self.problem

        def loss_of(params):
            return problem.batch_loss(params, batch)

        cols = []
        for j in range(V.shape[1]):
            tangent = unflatten(V[:, j], problem.params)
            _, hv = jvp(grad(loss_of), (problem.params,), (tangent,))
            cols.append(flatten(hv))
        return torch.stack(cols, dim=1)


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
                _dot(out, V[:, j]), leaves, allow_unused=True, retain_graph=retain or j < last
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
    # rows first, then a transposed view: writing columns of a (p, b) block strides through
    # memory (8.8 ms for one column of 1.8M floats, against 0.1 ms for the row)
    flats = [flatten(_fill(c, leaves)) for c in cols]
    return flats[0].unsqueeze(1) if len(flats) == 1 else torch.stack(flats).T


def _dot(out: Tensor, v: Tensor) -> Tensor:
    """vᵀout, a scalar: its gradient is the vector-Jacobian product (v enters the backward
    pass exactly as a grad_output would, times 1). A grad_output tensor would make
    torch.autograd import its symbolic-shape machinery, 0.4 s of every process."""
    return torch.dot(out, v.to(out.dtype))


def _is_missing_derivative(exc: Exception) -> bool:
    text = str(exc)
    return (
        ("derivative for" in text and "not implemented" in text)
        or "does not require grad" in text
        or "once_differentiable" in text
    )


def _fill(grads, leaves):
    return [torch.zeros_like(p) if g is None else g for g, p in zip(grads, leaves)]
