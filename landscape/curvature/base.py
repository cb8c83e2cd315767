"""The common shape of every curvature operator, and the algebra built from operators.

A curvature operator is a symmetric p×p matrix known only through products with flat vectors.
`AutogradOperator` owns the data loop (curvlinops' shape): a subclass says how one batch
contributes (`batch_graph`, `batch_product`); the base iterates the batches through
`Problem.batch_sum` (the one reduction), keeps the per-batch graphs when they fit in memory,
and counts the products. `calls` counts the vectors an operator was applied to; `products`
counts the products of the matrices that autograd (or a dense matrix) actually formed: the
two agree for a leaf, while the algebra operators (a diagonal block, a difference, a diagonal
scaling) report their parts' products. Estimators report their own calls.
"""

from __future__ import annotations

import torch
from torch import Tensor

from landscape.curvature.memory import choose_kept_graph
from landscape.errors import InputError
from landscape.problem import Batch, Problem


class CurvatureOperator:
    """A symmetric p×p matrix known only through products with flat vectors.

    Subclasses implement `_matmat(V)` for a block V of shape (p, b). `products` counts
    matrix-vector products (a block of b vectors counts b).
    """

    name = "operator"
    psd = False
    # Autograd routes take a block one column at a time: measured in benchmarks/products.py,
    # vmapped backward passes (is_grads_batched) cost more per vector on CPU than a loop.
    batched = False

    def __init__(self, num_params: int, dtype: torch.dtype, device: torch.device):
        self.num_params = num_params
        self.dtype = dtype
        self.device = torch.device(device)
        self.calls = 0  # vectors this operator was applied to (a block of b counts b)

    @property
    def products(self) -> int:
        """Matrix-vector products formed so far (a block of b vectors counts b)."""
        return self.calls

    @property
    def shape(self) -> tuple[int, int]:
        return (self.num_params, self.num_params)

    def matmat(self, V: Tensor) -> Tensor:
        if V.ndim != 2 or V.shape[0] != self.num_params:
            raise ValueError(f"expected a ({self.num_params}, b) block, got {tuple(V.shape)}")
        V = V.to(dtype=self.dtype, device=self.device)
        self.calls += V.shape[1]
        if self.batched or V.shape[1] == 1:
            return self._matmat(V)
        return torch.cat([self._matmat(V[:, j : j + 1]) for j in range(V.shape[1])], dim=1)

    def matvec(self, v: Tensor) -> Tensor:
        return self.matmat(v.reshape(-1, 1)).reshape(-1)

    def _matmat(self, V: Tensor) -> Tensor:
        raise NotImplementedError

    def __add__(self, other: CurvatureOperator) -> CurvatureOperator:
        """A + B: a product costs one of each."""
        return SumOperator(self, _same_shape(self, other))

    def __sub__(self, other: CurvatureOperator) -> CurvatureOperator:
        """A − B (e.g. H − G, the residual T): a product costs one of each."""
        return DifferenceOperator(self, _same_shape(self, other), f"{self.name}-{other.name}")

    def dense(self) -> Tensor:
        """The full matrix by p products (for small problems and tests)."""
        eye = torch.eye(self.num_params, dtype=self.dtype, device=self.device)
        cols = [self.matmat(eye[:, i : i + 64]) for i in range(0, self.num_params, 64)]
        M = torch.cat(cols, dim=1)
        return 0.5 * (M + M.T)


class AutogradOperator(CurvatureOperator):
    """A curvature matrix of the dataset loss, Σ_b (its batch's part), by autograd.

    Subclasses implement `batch_graph(leaves, batch)` (the autograd graph one batch's products
    go through, or None for a route without one) and `batch_product(graph, V, batch, retain)`.
    With "kept-graph" the graphs of every batch are built once and kept; with
    "double-backward" (or any route the subclass recomputes) they are rebuilt for each product.
    """

    routes: tuple[str, ...] = ("kept-graph", "double-backward")

    def __init__(self, problem: Problem, strategy: str = "auto"):
        super().__init__(problem.num_params, problem.dtype, problem.device)
        self.problem = problem
        self.strategy: str | None = None  # while the auto route measures a batch's graph
        self.strategy = self._route(strategy)
        self._kept = None
        if self.strategy == "kept-graph":
            self.problem = problem = problem.held()  # a stream's batches kept with their graphs
            leaves = problem.leaves()
            self._kept = problem.batch_map(lambda b: self.batch_graph(leaves, b))

    def _route(self, strategy: str) -> str:
        if strategy == "auto":
            keep = choose_kept_graph(self.problem, self.batch_graph)
            return "kept-graph" if keep else "double-backward"
        if strategy not in self.routes:
            raise InputError(f"unknown product strategy '{strategy}'", f"use one of {self.routes}")
        return strategy

    def batch_graph(self, leaves: list[Tensor], batch: Batch):
        raise NotImplementedError

    def batch_product(self, graph, V: Tensor, batch: Batch, retain: bool) -> Tensor:
        raise NotImplementedError

    def _matmat(self, V: Tensor) -> Tensor:
        if self._kept is not None:
            graphs = iter(self._kept)
            return self.problem.batch_sum(
                lambda b: self.batch_product(next(graphs), V, b, retain=True)
            )

        def part(batch: Batch) -> Tensor:
            graph = self.batch_graph(self.problem.leaves(), batch)
            return self.batch_product(graph, V, batch, retain=V.shape[1] > 1)

        return self.problem.batch_sum(part)


class DenseOperator(CurvatureOperator):
    """An explicit symmetric matrix behind the operator interface (tests, small cases)."""

    name = "dense"
    batched = True

    def __init__(self, matrix: Tensor, psd: bool = False):
        super().__init__(matrix.shape[0], matrix.dtype, matrix.device)
        self.matrix = matrix
        self.psd = psd

    def _matmat(self, V: Tensor) -> Tensor:
        return self.matrix @ V


class _Composite(CurvatureOperator):
    """An operator made of others: they count the products, it only passes blocks on."""

    batched = True  # the parts decide how to take a block
    parts: tuple[CurvatureOperator, ...] = ()

    @property
    def products(self) -> int:
        return sum(part.products for part in self.parts)


class BlockOperator(_Composite):
    """The diagonal block A[s, s] of an operator A, for one parameter group s (a slice)."""

    def __init__(self, parent: CurvatureOperator, block: slice):
        super().__init__(block.stop - block.start, parent.dtype, parent.device)
        self.parent, self.block, self.parts = parent, block, (parent,)
        self.name, self.psd = parent.name, parent.psd

    def _matmat(self, V: Tensor) -> Tensor:
        full = torch.zeros(self.parent.num_params, V.shape[1], dtype=V.dtype, device=V.device)
        full[self.block] = V
        return self.parent.matmat(full)[self.block]


class DifferenceOperator(_Composite):
    """A − B for two operators on the same parameters (e.g. T = H − G)."""

    def __init__(self, a: CurvatureOperator, b: CurvatureOperator, name: str = "difference"):
        super().__init__(a.num_params, a.dtype, a.device)
        self.a, self.b, self.name, self.parts = a, b, name, (a, b)

    def _matmat(self, V: Tensor) -> Tensor:
        return self.a.matmat(V) - self.b.matmat(V)


class ScaledOperator(_Composite):
    """S A S for a positive diagonal S: with S = D^-1/2 its eigenvalues are those of D⁻¹A."""

    def __init__(self, parent: CurvatureOperator, scale: Tensor, name: str = "preconditioned"):
        super().__init__(parent.num_params, parent.dtype, parent.device)
        self.parent, self.name, self.parts = parent, name, (parent,)
        self.scale = scale.to(dtype=parent.dtype, device=parent.device).reshape(-1, 1)

    def _matmat(self, V: Tensor) -> Tensor:
        return self.scale * self.parent.matmat(self.scale * V)


class SumOperator(_Composite):
    """A + B for two operators on the same parameters."""

    def __init__(self, a: CurvatureOperator, b: CurvatureOperator):
        super().__init__(a.num_params, a.dtype, a.device)
        self.a, self.b, self.name, self.parts = a, b, f"{a.name}+{b.name}", (a, b)
        self.psd = a.psd and b.psd

    def _matmat(self, V: Tensor) -> Tensor:
        return self.a.matmat(V) + self.b.matmat(V)


def _same_shape(a: CurvatureOperator, b) -> CurvatureOperator:
    if not isinstance(b, CurvatureOperator) or b.num_params != a.num_params:
        size = getattr(b, "num_params", type(b).__name__)
        raise InputError(
            f"operators combine only with operators of the same size ({a.num_params} and {size})",
            "build both from the same problem",
        )
    return b
