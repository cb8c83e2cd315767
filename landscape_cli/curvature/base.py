"""The common shape of every curvature operator: products with flat vectors, counted."""

from __future__ import annotations

import torch
from torch import Tensor


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
        self.products = 0

    @property
    def shape(self) -> tuple[int, int]:
        return (self.num_params, self.num_params)

    def matmat(self, V: Tensor) -> Tensor:
        if V.ndim != 2 or V.shape[0] != self.num_params:
            raise ValueError(f"expected a ({self.num_params}, b) block, got {tuple(V.shape)}")
        V = V.to(dtype=self.dtype, device=self.device)
        self.products += V.shape[1]
        if self.batched or V.shape[1] == 1:
            return self._matmat(V)
        return torch.cat([self._matmat(V[:, j : j + 1]) for j in range(V.shape[1])], dim=1)

    def matvec(self, v: Tensor) -> Tensor:
        return self.matmat(v.reshape(-1, 1)).reshape(-1)

    def _matmat(self, V: Tensor) -> Tensor:
        raise NotImplementedError

    def dense(self) -> Tensor:
        """The full matrix by p products (for small problems and tests)."""
        eye = torch.eye(self.num_params, dtype=self.dtype, device=self.device)
        cols = [self.matmat(eye[:, i : i + 64]) for i in range(0, self.num_params, 64)]
        M = torch.cat(cols, dim=1)
        return 0.5 * (M + M.T)


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


class BlockOperator(CurvatureOperator):
    """The diagonal block A[s, s] of an operator A, for one parameter group s (a slice)."""

    def __init__(self, parent: CurvatureOperator, block: slice):
        size = block.stop - block.start
        super().__init__(size, parent.dtype, parent.device)
        self.parent = parent
        self.block = block
        self.name = parent.name
        self.psd = parent.psd
        self.batched = True  # the parent decides how to take the block

    def _matmat(self, V: Tensor) -> Tensor:
        full = torch.zeros(self.parent.num_params, V.shape[1], dtype=V.dtype, device=V.device)
        full[self.block] = V
        before = self.parent.products
        out = self.parent.matmat(full)[self.block]
        self.parent.products = before  # counted here, not twice
        return out


class DifferenceOperator(CurvatureOperator):
    """A − B for two operators on the same parameters (e.g. T = H − G)."""

    batched = True  # the parts decide how to take the block

    def __init__(self, a: CurvatureOperator, b: CurvatureOperator, name: str = "difference"):
        super().__init__(a.num_params, a.dtype, a.device)
        self.a, self.b, self.name = a, b, name

    def _matmat(self, V: Tensor) -> Tensor:
        return self.a.matmat(V) - self.b.matmat(V)
