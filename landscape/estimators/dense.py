"""Extreme eigenpairs of a dense symmetric matrix, certified like the Lanczos ones."""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import Tensor

from landscape.estimators.results import Eigenpair, EigenResult


def dense_eigenpairs(M: Tensor, k_top: int, k_bottom: int) -> EigenResult:
    """Extreme eigenpairs of a dense symmetric matrix (LAPACK, only the wanted ones),
    certified like the Lanczos ones by their residual norms."""
    import scipy.linalg  # slow to import: only when a dense solve is asked for

    start = time.perf_counter()
    M = 0.5 * (M + M.T)
    A = M.detach().cpu().double().numpy()
    n = A.shape[0]
    k_top, k_bottom = min(k_top, n), min(k_bottom, n)
    cols = []
    if k_top:
        _, Q = scipy.linalg.eigh(A, subset_by_index=[n - k_top, n - 1], driver="evr")
        cols.append(Q[:, ::-1])
    if k_bottom:
        cols.append(scipy.linalg.eigh(A, subset_by_index=[0, k_bottom - 1], driver="evr")[1])
    X = torch.from_numpy(np.ascontiguousarray(np.concatenate(cols, axis=1)))
    X = X.to(dtype=M.dtype, device=M.device)
    MX = M @ X
    values = (X * MX).sum(0)
    res = (MX - X * values).norm(dim=0)
    pairs = [Eigenpair(float(v), float(r), True) for v, r in zip(values, res)]
    return EigenResult(
        top=pairs[:k_top],
        bottom=pairs[k_top:],
        top_vectors=X[:, :k_top],
        bottom_vectors=X[:, k_top:],
        products=0,
        krylov_dim=n,
        tol=0.0,
        converged=True,
        seconds=time.perf_counter() - start,
    )
