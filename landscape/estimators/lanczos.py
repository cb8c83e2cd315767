"""Extreme eigenpairs of a symmetric operator by thick-restart Lanczos.

One Krylov space serves both ends of the spectrum: the top-k and the bottom-k Ritz pairs come
from the same products, so asking for both costs what the slower end costs. Every basis
vector is orthogonalised twice against the whole basis (full reorthogonalisation), so Ritz
values never repeat as ghosts. When the basis reaches `max_basis` vectors, it restarts thick
(Wu & Simon 2000): the wanted Ritz vectors of both ends are kept and the Krylov space grows
again from the last residual.

Each returned eigenvalue carries a certificate: the residual norm ‖A x − θ x‖ of its unit Ritz
vector, computed with explicit products at the end. For a symmetric A some eigenvalue lies
within that distance of θ.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace

import torch
from torch import Tensor

from landscape.errors import InputError
from landscape.estimators.basis import MAX_BASIS, Basis, BasisBudget, plan_basis
from landscape.estimators.orthogonality import Reorthogonalisation
from landscape.estimators.results import Eigenpair, EigenResult
from landscape.estimators.warm import warm_vector

MAX_RECHECKS = 3  # locked re-solves of the multiplicity check
# Partial reorthogonalisation (estimators/orthogonality.py) from this many parameters on; below,
# a full pass costs less than a product on every model measured, and every step takes one, so
# runs that sum in a different order (ranks, streams) agree to round-off, not to δ ≈ 1e-8.
PARTIAL_FROM = 100_000
GHOSTS = 1e-2  # returned vectors less orthonormal than this: the ω estimates failed; full passes
# The products a solve may take unless capped grow with the basis and with the pairs asked for:
# an end that is a dense cluster (a trained network's GGN near 0) took about 75 products more
# per wanted pair (1,363 for 5 + 5 pairs, 2,123 for 10 + 10, 3,643 for 20 + 20 on 2.4k params).
PRODUCTS_PER_PAIR = 100


def extreme_eigenpairs(
    op,
    k_top: int,
    k_bottom: int,
    *,
    tol: float,
    max_products: int | None = None,
    max_basis: int | None = None,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    multiplicity_check: bool = False,
    basis_budget: BasisBudget | None = None,
    start: Tensor | None = None,
) -> EigenResult:
    """Top-k (largest) and bottom-k (smallest, most negative) eigenpairs of `op`.

    Converged means ‖A x − θ x‖ ≤ tol · max|θ| (the operator's scale).

    A Krylov space grown from one vector holds one copy of each eigenvalue: a repeated
    eigenvalue can be listed fewer times than it occurs. With `multiplicity_check`, the
    converged pairs are locked and a fresh random vector, orthogonal to them, grows the space
    again until its own extreme Ritz values converge; the wanted values must come out the same
    (at most MAX_RECHECKS rounds; `multiplicity` says "verified", or "unresolved" when the last
    round still changed them: a cluster larger than the rounds can count). It costs about as
    many products again.

    The Krylov basis is placed by `plan_basis` within `basis_budget` (default: a quarter of
    the free memory, float64 on the operator's device); `max_basis` caps its vectors. Each new
    vector is orthogonalised against the whole basis only when the ω estimates say it is due
    (estimators/orthogonality.py); the returned vectors' `orthogonality` (max |XᵀX − I|)
    checks it, and should it ever exceed GHOSTS the solve is repeated with full passes.
    """
    p = op.num_params
    _check_request(p, k_top, k_bottom, tol)
    info = _plan(p, k_top + k_bottom, op.device, basis_budget, max_basis)
    clock = (time.perf_counter(), op.calls)
    args = (op, k_top, k_bottom, tol, info, max_products, seed, progress, multiplicity_check, start)
    partial = p >= PARTIAL_FROM
    result = _solve(*args, clock=clock, partial=partial)
    if partial and result.orthogonality > GHOSTS:  # the estimates missed a loss: never seen
        again = _solve(*args, clock=(clock[0], op.calls), partial=False)  # a budget of its own
        result = replace(again, products=op.calls - clock[1])  # both solves' products
    return result


def default_budget(basis_vectors: int, wanted: int) -> int:
    """The products a solve takes at most unless capped: max(5 × the basis' vectors, 1000), plus
    PRODUCTS_PER_PAIR for each wanted eigenpair. A solve that converges stops sooner."""
    return max(5 * basis_vectors, 1000) + PRODUCTS_PER_PAIR * wanted


def solve_bound(p: int, wanted: int, max_products: int | None = None) -> int:
    """The most products one `extreme_eigenpairs` call takes: its cap (else `default_budget` at
    the largest basis it can plan, min(MAX_BASIS, p) vectors) and the certificates' block of
    `wanted`, twice from PARTIAL_FROM parameters on (the repeat with full passes has its own)."""
    one = (max_products or default_budget(min(MAX_BASIS, p), wanted)) + wanted
    return one * (2 if p >= PARTIAL_FROM else 1)


def _check_request(p: int, k_top: int, k_bottom: int, tol: float) -> None:
    if k_top < 0 or k_bottom < 0 or k_top + k_bottom == 0:
        raise InputError("ask for at least one eigenvalue", "ask for k_top or k_bottom ≥ 1")
    if max(k_top, k_bottom) > p:
        raise InputError(
            f"k = {max(k_top, k_bottom)} is larger than the number of parameters ({p})",
            f"ask for {p} or fewer",
        )
    if not tol > 0:
        raise InputError(f"tol must be positive, got {tol}", "use e.g. tol = 1e-6")


def _plan(p: int, want: int, device, budget: BasisBudget | None, max_basis: int | None):
    info = plan_basis(p, want, device, budget)  # float64 when it fits, any products
    if max_basis is None:
        return info
    vectors = max(min(p, max_basis, info.vectors), min(p, want + 2))
    return replace(info, vectors=vectors, bytes=info.bytes // (info.vectors + 1) * (vectors + 1))


def _solve(
    op, k_top, k_bottom, tol, info, max_products, seed, progress, multiplicity_check, warm, *,
    clock, partial,
) -> EigenResult:  # fmt: skip
    p, want = op.num_params, k_top + k_bottom
    start_time, start_products = clock
    basis = Basis(p, info)
    size = basis.size
    budget = max_products or default_budget(size, want)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    if warm is None:
        v, first = _random(p, gen, op), None
    else:  # the best combination of the block: its first product comes with it
        v, first = warm_vector(op, warm, k_top, k_bottom, size // 2)
    basis.V[0] = v / v.norm()
    basis.m, restarts, beta = 1, 0, 0.0
    track = Reorthogonalisation(size, p, op.dtype, basis.dtype, tol, partial)
    locked, rechecks = None, 0  # locked: (unit vectors (p, r), their values) while rechecking
    multiplicity = None  # "verified", or "unresolved" when the last round still found more
    while True:
        j = basis.m - 1
        w = op.matvec(basis.V[j]).double() if first is None else first
        first = None
        if progress:
            progress(op.calls - start_products)
        w, beta = _orthogonalize(basis, track, w, j)
        used = op.calls - start_products
        must_stop = basis.m == p or used >= budget
        if must_stop or basis.m == size or _check_now(basis.m, want):
            theta, Y = torch.linalg.eigh(basis.S[: basis.m, : basis.m])  # torch: no BLAS spin
            scale = max(abs(float(theta[0])), abs(float(theta[-1])), 1e-300)
            residuals = beta * Y[-1, :].abs()
            done = basis.m >= min(p, want) and all(
                residuals[i] <= tol * scale for i in _wanted(len(theta), k_top, k_bottom)
            )
            if done and multiplicity_check and not must_stop:
                check = _recheck(basis, theta, Y, residuals, locked, k_top, k_bottom, tol * scale)
                if check == "wait":
                    done = False
                elif check == "lock" and rechecks < MAX_RECHECKS:
                    track.stop()  # the locked vectors are not in the Krylov relation
                    locked = _lock(basis, theta, Y, k_top, k_bottom, _random(p, gen, op))
                    rechecks += 1
                    continue
                else:
                    multiplicity = "verified" if check == "verified" else "unresolved"
            if done or must_stop:
                break
            if basis.m == size:  # thick restart: keep the wanted Ritz vectors of both ends
                keep = _keep_indices(len(theta), k_top, k_bottom, size)
                _restart(basis, theta, Y, keep, w / beta, beta)
                restarts += 1
                if track.partial:
                    _orthonormal_kept(basis, len(keep), track.delta)
                    track.stop()
                continue
        if beta <= 1e-12 * max(float(basis.S[: basis.m, j].abs().max()), 1e-300) and basis.m < p:
            # an invariant subspace before the wanted pairs: go on from a fresh direction
            w, _, _ = basis.orthogonalize(_random(p, gen, op), basis.m)
            w, _, norm = basis.orthogonalize(w, basis.m)
            beta = 0.0
            torch.div(w, norm, out=basis.V[basis.m])
            track.passed(basis.m, forced_next=False)
        else:
            torch.div(w, beta, out=basis.V[basis.m])  # no new p-sized tensor
        basis.S[basis.m, j] = basis.S[j, basis.m] = beta
        basis.m += 1
    result = _certify(
        op, basis, theta, Y, k_top, k_bottom, tol, scale, restarts, start_products, start_time,
        warm,
    )  # fmt: skip
    return replace(result, multiplicity=multiplicity, full_passes=track.full_passes)


def _orthogonalize(basis: Basis, track, w: Tensor, j: int) -> tuple[Tensor, float]:
    """Step j's new vector: orthogonal to the last two rows, and to all of them when a full
    pass is due or the ω estimates say semi-orthogonality is lost; its coefficients go into
    S (column and row j)."""
    full = track.full_due(basis.m, basis.size)
    w, h, beta = basis.orthogonalize(w, basis.m, full)
    _store(basis, j, h)
    if full:
        track.passed(j + 1, forced_next=False)
    elif track.lost(basis.S, j, beta):
        beta = basis.reorthogonalize(w, h, basis.m, beta)  # the local pass is done already
        _store(basis, j, h)
        track.passed(j + 1, forced_next=True)  # and the next vector too
    return w, beta


def _store(basis: Basis, j: int, h: Tensor) -> None:
    basis.S[: basis.m, j] = h.double().cpu()
    basis.S[j, : basis.m] = basis.S[: basis.m, j].clone()


def _recheck(basis, theta, Y, residuals, locked, k_top, k_bottom, limit) -> str:
    """After convergence: "lock" to start a check round, "wait" while the fresh Krylov
    space's extremes are still moving, "verified" when they are converged and change nothing."""
    if locked is None:
        return "lock"
    vectors, values = locked
    overlap = (basis.dot(slice(0, basis.m), vectors).T.cpu() @ Y).norm(dim=0)  # on locked
    fresh = [i for i in range(len(theta)) if overlap[i] < 0.5]
    ends = ([max(fresh)] if k_top and fresh else []) + ([min(fresh)] if k_bottom and fresh else [])
    if any(residuals[i] > limit for i in ends):
        return "wait"
    wanted = sorted(float(theta[i]) for i in _wanted(len(theta), k_top, k_bottom))
    same = len(wanted) == len(values) and all(
        abs(a - b) <= limit for a, b in zip(wanted, values, strict=True)
    )
    return "verified" if same else "lock"


def _lock(basis, theta, Y, k_top, k_bottom, fresh: Tensor):
    """Keep the wanted Ritz vectors and go on from a random vector orthogonal to the basis."""
    keep = sorted(_wanted(len(theta), k_top, k_bottom))
    fresh, _, _ = basis.orthogonalize(fresh, basis.m)
    fresh, _, norm = basis.orthogonalize(fresh, basis.m)
    _restart(basis, theta, Y, keep, fresh / norm, 0.0)
    values = sorted(float(theta[i]) for i in keep)
    return basis.V[: len(keep)].double().T.contiguous(), values  # (p, r) float64


def _random(p: int, gen: torch.Generator, op) -> Tensor:
    return torch.randn(p, generator=gen, dtype=torch.float64).to(op.device)


def _check_now(m: int, want: int) -> bool:
    """Solve the projected problem every step up to m = 100 (under a millisecond), then every
    m/50 steps (its cost grows as m³ while a product's does not)."""
    return m >= want and (m <= 100 or m % (m // 50) == 0)


def _wanted(n: int, k_top: int, k_bottom: int) -> list[int]:
    top = list(range(n - 1, max(n - 1 - k_top, -1), -1))
    bottom = [i for i in range(min(k_bottom, n)) if i not in top]
    return top + bottom


def _keep_indices(n: int, k_top: int, k_bottom: int, size: int) -> list[int]:
    """Ritz pairs kept at a restart: the wanted ones and as many again as buffer, both ends."""
    room = max(size // 2, k_top + k_bottom + 2)
    if k_bottom == 0:
        return list(range(n - min(room, n), n))
    if k_top == 0:
        return list(range(min(room, n)))
    low = max(k_bottom, room * k_bottom // (k_top + k_bottom))
    high = room - low
    return sorted(set(range(min(low, n))) | set(range(max(n - high, 0), n)))


def _restart(basis: Basis, theta, Y, keep: list[int], f: Tensor, beta: float) -> None:
    r = len(keep)
    basis.replace_leading(Y[:, keep])
    basis.V[r] = f
    basis.S.zero_()
    basis.S[range(r), range(r)] = theta[keep]
    coupling = beta * Y[-1, keep]  # v_{r}ᵀ A (V y_i) = β·y_i[last]
    basis.S[r, :r] = basis.S[:r, r] = coupling
    basis.m = r + 1


def _orthonormal_kept(basis: Basis, r: int, limit: float) -> None:
    """Ritz vectors of a semi-orthogonal basis are orthonormal only to its level, and a
    restart would carry that loss forward: when their Gram matrix G = L Lᵀ is off the
    identity by more than `limit`, they become L⁻¹ V[:r], and the arrowhead S follows
    (A K = K Θ + f sᵀ gives A K L⁻ᵀ = K L⁻ᵀ (Lᵀ Θ L⁻ᵀ) + f (L⁻¹ s)ᵀ)."""
    G = basis.gram(r)
    if float((G - torch.eye(r, dtype=torch.float64)).abs().max()) <= limit:
        return
    L = torch.linalg.cholesky(G)
    L_inv = torch.linalg.solve_triangular(L, torch.eye(r, dtype=torch.float64), upper=False)
    basis.transform_leading(L_inv)
    block = L.T @ basis.S[:r, :r] @ L_inv.T
    basis.S[:r, :r] = (block + block.T) / 2
    basis.S[r, :r] = basis.S[:r, r] = L_inv @ basis.S[r, :r]


def _start_block(X: Tensor, warm: Tensor | None) -> Tensor:
    """The rows a next solve starts from (`start=`): these Ritz vectors, then those of the
    solve this one started from (the first rows of `warm`, as many): a spectrum oscillating
    between two steps (the edge of stability) comes back to them every other step."""
    rows = X.T.contiguous()
    if warm is None or warm.dim() != 2:
        return rows
    return torch.cat([rows, warm[: rows.shape[0]].to(rows.device, rows.dtype)])


def _orthogonality(X: Tensor) -> float:
    """max |XᵀX − I| of unit columns: far below 1 when they are distinct eigenvectors (a
    Ritz value repeated as a ghost copy has a vector nearly parallel to the first)."""
    gram = X.T @ X
    gram.diagonal().sub_(1.0)
    return float(gram.abs().max())


def _certify(
    op, basis, theta, Y, k_top, k_bottom, tol, scale, restarts, start_products, start_time, warm
) -> EigenResult:
    """Ritz vectors of both ends and their explicit residual norms (one block of products)."""
    n = len(theta)
    top_idx = list(range(n - 1, max(n - 1 - k_top, -1), -1))
    bottom_idx = list(range(min(k_bottom, n)))
    idx = top_idx + bottom_idx
    X = basis.combine(Y[:, idx], basis.m).to(op.device).contiguous()
    X = X / X.norm(dim=0, keepdim=True)
    AX = op.matmat(X).double()
    rayleigh = (X * AX).sum(0)
    res = (AX - X * rayleigh).norm(dim=0).double().cpu().numpy()
    orthogonality = _orthogonality(X[:, [idx.index(i) for i in sorted(set(idx))]])
    values = rayleigh.double().cpu().numpy()
    pairs = [
        Eigenpair(float(values[i]), float(res[i]), bool(res[i] <= tol * scale))
        for i in range(len(idx))
    ]
    if not all(math.isfinite(e.value) for e in pairs):
        from landscape.errors import NumericalError

        raise NumericalError("the eigen-solver produced NaN", "check the loss for NaN/inf values")
    top, bottom = pairs[: len(top_idx)], pairs[len(top_idx) :]
    return EigenResult(
        start=_start_block(X, warm),
        top=top,
        bottom=bottom,
        top_vectors=X[:, : len(top_idx)],
        bottom_vectors=X[:, len(top_idx) :],
        products=op.calls - start_products,
        restarts=restarts,
        krylov_dim=basis.m,
        tol=tol,
        converged=all(e.converged for e in pairs),
        seconds=time.perf_counter() - start_time,
        basis=basis.info,
        orthogonality=orthogonality,
    )
