"""The values estimators return, each with how far it can be off.

Two kinds of bound, one shape (`value` and `bound`):
- certified: an eigenvalue θ with the residual ‖Ax − θx‖ of its unit Ritz vector; some
  eigenvalue of the symmetric A lies within that distance (`Eigenpair.error_bound`);
- statistical: a stochastic estimate with one standard error (`Estimate.stderr`).
Results are frozen: an analysis builds them once, and `dataclasses.replace` makes a changed copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor


@dataclass(frozen=True)
class Eigenpair:
    value: float
    error_bound: float  # ‖A x − θ x‖ for the unit Ritz vector x
    converged: bool

    @property
    def bound(self) -> float:
        return self.error_bound


@dataclass(frozen=True)
class Estimate:
    """`value` ± `stderr` (one standard error of a stochastic estimate; 0 when exact)."""

    value: float
    stderr: float

    @property
    def bound(self) -> float:
        return self.stderr


@dataclass(frozen=True)
class TraceEstimate(Estimate):
    """A trace estimate after `products` products.

    `method` is "hutch++", "hutchinson" or "exact" (stderr 0). The stderr is infinite when
    the stochastic part had a single sample (Hutch++ with a budget of 3).
    """

    products: int
    method: str


@dataclass(frozen=True)
class BasisInfo:
    """Where the eigen-solver's Krylov basis lived and the largest one its budget allowed:
    `vectors` (+ 1 row for the residual) of p numbers in `dtype`, `bytes` in all, within
    `budget` bytes; `pinned`: page-locked host memory for an operator on a GPU."""

    device: str
    dtype: str
    vectors: int
    bytes: int
    budget: int
    pinned: bool = False


@dataclass(frozen=True)
class EigenResult:
    top: list[Eigenpair]  # descending
    bottom: list[Eigenpair]  # ascending (most negative first)
    top_vectors: Tensor | None = field(default=None, repr=False)  # (p, k), unit columns
    bottom_vectors: Tensor | None = field(default=None, repr=False)
    products: int = 0
    restarts: int = 0
    krylov_dim: int = 0
    tol: float = 0.0
    converged: bool = False
    seconds: float = 0.0
    multiplicity: str | None = None  # the multiplicity check: None (not run), verified, unresolved
    basis: BasisInfo | None = None  # None: no Krylov basis (dense solve, nothing asked)
    full_passes: int = 0  # steps orthogonalised against the whole basis (the rest: the last two)
    orthogonality: float | None = None  # max |XᵀX − I| of the returned vectors (Lanczos)
    # (m, p) rows a next solve can start from (`start=`): the Ritz vectors above, then those
    # of the solve this one started from (uncertified here: only a start)
    start: Tensor | None = field(default=None, repr=False)

    @property
    def scale(self) -> float:
        """max|λ| over the pairs found: the scale `tol` is relative to."""
        values = [abs(e.value) for e in self.top + self.bottom]
        return max(values) if values else 0.0


@dataclass(frozen=True)
class SolverInfo:
    """The eigen-solver's figures that a report carries: an EigenResult without its pairs
    and vectors (`products`: the matrix-vector products the solve took)."""

    converged: bool
    tol: float
    products: int
    restarts: int
    krylov_dim: int
    seconds: float
    basis: BasisInfo | None = None  # where the Krylov basis lived, the largest it could be
    full_passes: int = 0  # steps orthogonalised against the whole basis (the rest: two rows)
    orthogonality: float | None = None  # max |XᵀX − I| of the returned vectors

    @classmethod
    def of(cls, eig) -> SolverInfo:
        """The solver's figures of an EigenResult."""
        return cls(
            eig.converged, eig.tol, eig.products, eig.restarts, eig.krylov_dim, eig.seconds,
            eig.basis, eig.full_passes, eig.orthogonality,
        )  # fmt: skip
