"""Where a warm-started Lanczos solve begins: the best vector of an earlier solve's Ritz block.

A block X of previous Ritz vectors (m rows) is orthonormalised and multiplied once (m
products). The Rayleigh–Ritz pairs of span(X) (H = XᵀAX = U Θ Uᵀ) rotate the old vectors to the
new operator: when the top eigenvectors turned within the block between two checkpoints (near
crossings, the oscillations at the edge of stability), the rotated vector is good where the old
first one is not. The solve starts from z = X u, u the sum of the wanted columns of U (the top
k and bottom k), and its first product A z = (AX) u comes with it, so a block of m costs m − 1
products more than a single vector.

The start only changes how many products the solve takes: the Krylov space grown from z is an
ordinary one, and the solve ends with the same explicit certificates as a cold one.
"""

from __future__ import annotations

import torch
from torch import Tensor

from landscape.errors import InputError

DEPENDENT = 1e-8  # block columns whose QR diagonal falls below this (relative): dropped


def warm_vector(op, block: Tensor, k_top: int, k_bottom: int, most: int) -> tuple[Tensor, Tensor]:
    """The start vector z (float64, unit) and its product A z, from at most `most` rows."""
    X = _orthonormal(block, op)[:, : max(1, most)]
    AX = op.matmat(X.to(op.dtype)).double().to(X.device)
    H = (X.T @ AX).cpu()
    theta, U = torch.linalg.eigh((H + H.T) / 2)
    m = len(theta)
    wanted = sorted(set(range(max(m - k_top, 0), m)) | set(range(min(k_bottom, m))))
    u = U[:, wanted].sum(1).to(X.device)
    z = X @ u
    norm = z.norm()
    return z / norm, AX @ u / norm


def _orthonormal(block: Tensor, op) -> Tensor:
    """The block's rows as orthonormal float64 columns (p × m') on the operator's device."""
    p = op.num_params
    block = torch.as_tensor(block)
    if block.dim() == 1:
        block = block[None]
    if block.dim() != 2 or block.shape[1] != p or block.shape[0] < 1:
        raise InputError(
            f"start has shape {tuple(block.shape)}, not ({p},) or (m, {p})",
            "pass a previous result's `start` (rows) or one vector of the parameters' size",
        )
    X = block.to(op.device, torch.float64).T
    if not bool(torch.isfinite(X).all()):
        raise InputError("start holds NaN or inf", "pass finite vectors")
    Q, R = torch.linalg.qr(X)
    d = R.diagonal().abs()
    keep = d > DEPENDENT * max(float(d.max()), 1e-300)
    if not bool(keep.any()):
        raise InputError("start is zero", "pass a nonzero vector")
    return Q[:, keep]
