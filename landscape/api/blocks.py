"""Building blocks for those who compose: a problem, its curvature operators, the estimators.

    problem = ls.make_problem(model, loader, nn.CrossEntropyLoss())
    H, G = ls.hessian(problem), ls.ggn(problem)
    eig = ls.extreme_eigenpairs(H - G, k=3)          # the residual T = H − G
    tr = ls.hutchpp_trace(G)

An operator is a symmetric p×p matrix known through products (`op.matvec(v)`, `op.matmat(V)`
for V of shape (p, b)); `op.products` counts them. One product of H or G costs about two
passes over the data (forward and backward, with a kept graph a backward only); a sum or
difference of operators costs one product of each."""

from __future__ import annotations

from landscape.api import defaults as D
from landscape.api.inputs import build
from landscape.api.keywords import keywords, not_converged, speaking_fields
from landscape.api.settings import SolverSettings, check_counts, memory_of
from landscape.errors import InputError

_S, _P = D.SPECTRUM, D.PROBLEM


@keywords("problem")
def make_problem(model, data, loss, opt):
    """The problem an analysis works on, built from the model, the data and the loss:
    θ (the parameters that require grad, or those `params` names), the data in batches of
    `batch_size` in `dtype` on `device`, the loss the mean over examples.

    The model is left exactly as it was: the problem holds a deep copy in eval mode, cast to
    `dtype` (memory: one more copy of the parameters and buffers). Returns a `ls.Problem`
    (`.loss_at()`, `.gradient()`, `.num_params`, `.flat_params()`); every call takes it in
    place of the model. Cost: a loss pass and one gradient of the first batch (checks)."""
    return build(model, data, loss, opt)


def hessian(problem, *, strategy: str = D.STRATEGY["strategy"]):
    """H = ∇²L(θ) as an operator.

    Returns a curvature operator (p × p): `.matvec(v)`, `.matmat(V)`, `.dense()` (p
    products), `.products` (the count so far); operators compose (`H - G`, `H + G`). Building
    it costs nothing (or the kept graphs of the data, strategy='kept-graph', chosen by 'auto'
    when they fit in memory); each product Hv costs about two passes over the data (a
    Hessian-vector product by double backward)."""
    from landscape.curvature import HessianOperator

    return speaking_fields(HessianOperator)(_check(problem), strategy)


def ggn(problem, *, strategy: str = D.STRATEGY["strategy"]):
    """The generalized Gauss-Newton G = (1/N) Σ Jᵢᵀ ∇²ℓᵢ Jᵢ (positive semidefinite).

    Returns a curvature operator (p × p): `.matvec(v)`, `.matmat(V)`, `.dense()` (p
    products), `.products` (the count so far); operators compose (`H - G`, `H + G`). Building
    it costs nothing; each product Gv costs about two passes over the data (a Jacobian-vector
    and a vector-Jacobian product)."""
    from landscape.curvature import GGNOperator

    return speaking_fields(GGNOperator)(_check(problem), strategy)


def fisher(
    problem,
    *,
    mc_samples: int | None = _S["mc_samples"],
    seed: int = _P["seed"],
    strategy: str = D.STRATEGY["strategy"],
):
    """The Fisher F = (1/N) Σ Jᵢᵀ F_R Jᵢ under the model's own predictive distribution: exact
    (equal to G for these losses), or Monte-Carlo with `mc_samples` labels per example
    (drawn with `seed`).

    Returns a curvature operator (p × p): `.matvec(v)`, `.matmat(V)`, `.dense()` (p
    products), `.products` (the count so far); operators compose (`H - G`, `H + G`). Each
    product costs about two passes over the data, as the GGN's."""
    from landscape.curvature import FisherOperator

    build_op = speaking_fields(FisherOperator)
    return build_op(_check(problem), mc_samples=mc_samples, seed=seed, strategy=strategy)


def empirical_fisher(problem, *, strategy: str = D.STRATEGY["strategy"]):
    """The empirical Fisher (1/N) Σ gᵢ gᵢᵀ at the data's labels (positive semidefinite).

    Returns a curvature operator (p × p): `.matvec(v)`, `.matmat(V)`, `.dense()` (p
    products), `.products` (the count so far); operators compose (`H - G`, `H + G`). Each
    product needs the per-example gradients gᵢ (a pass over the data that keeps them)."""
    from landscape.curvature import EmpiricalFisherOperator

    return speaking_fields(EmpiricalFisherOperator)(_check(problem), strategy)


def _check(problem):
    from landscape.problem import Problem

    if not isinstance(problem, Problem):
        raise InputError(
            f"problem: a {type(problem).__name__} is not a problem",
            "build one with ls.make_problem(model, data, loss)",
        )
    return problem


@speaking_fields
def extreme_eigenpairs(
    op,
    *,
    k: int = _S["k"],
    k_bottom: int | None = _S["k_bottom"],
    tol: float | None = D.SOLVER["tol"],
    max_products: int | None = D.SOLVER["max_products"],
    basis_memory: int | str | None = D.SOLVER["basis_memory"],
    seed: int = _P["seed"],
    multiplicity_check: bool = _S["multiplicity_check"],
    allow_unconverged: bool = D.SOLVER["allow_unconverged"],
    solver: SolverSettings | None = None,
    start=None,
):
    """The k largest and k_bottom smallest (most negative; None: k) eigenpairs of `op`, each
    certified: |λ − λ̂| ≤ error_bound, `converged` when ‖Av − λv‖ ≤ tol·max|λ|.

    Returns an EigenResult (`.top`, `.bottom`: Eigenpair lists; `.top_vectors`,
    `.bottom_vectors`: (p, k) tensors; `.products`). Cost: thick-restart Lanczos, usually a
    few times k + k_bottom products, at most max_products (about twice with
    multiplicity_check). Raises ls.NotConverged (its `.report` the EigenResult) unless
    allow_unconverged.

    `start` warm-starts the solve: a previous result (or its `.start`, an (m, p) block of
    Ritz vectors, or one (p,) vector). The block costs m products, the solve starts from its
    best combination, and the certificates are those of a cold solve; on a slowly moving
    operator (consecutive training steps) it takes a fraction of the products. Pass each
    result to the next call: `.start` carries its Ritz vectors and its own start's."""
    from landscape.estimators.basis import BasisBudget
    from landscape.estimators.lanczos import extreme_eigenpairs as solve

    if solver is not None:
        tol, max_products, basis_memory = solver.tol, solver.max_products, solver.basis_memory
    opt = {"k": k, "k_bottom": k_bottom, "max_products": max_products}
    check_counts(opt, k=0, k_bottom=0, max_products=1)
    if tol is None:
        tol = D.DTYPE_TOL.get(str(op.dtype).replace("torch.", ""), D.DTYPE_TOL["float64"])
    eig = solve(
        op, k, k if k_bottom is None else k_bottom, tol=tol, max_products=max_products,
        seed=seed, multiplicity_check=multiplicity_check,
        basis_budget=BasisBudget(memory=memory_of(basis_memory)), start=_start_of(start),
    )  # fmt: skip
    not_converged(eig, eig.top + eig.bottom, {"allow_unconverged": allow_unconverged}, eig.products)
    return eig


def _start_of(start):
    from landscape.estimators.results import EigenResult

    return start.start if isinstance(start, EigenResult) else start


@speaking_fields
def hutchpp_trace(op, *, trace_samples: int = D.TRACE_SAMPLES, seed: int = _P["seed"]):
    """Hutch++ estimate of tr(op) with its standard error, from exactly `trace_samples`
    products (or p products and the exact trace when p ≤ trace_samples). Returns a
    TraceEstimate (`.value`, `.stderr`, `.products`)."""
    from landscape.estimators.trace import hutchpp_trace as estimate

    check_counts({"trace_samples": trace_samples}, trace_samples=3)
    return estimate(op, trace_samples, seed=seed)


@speaking_fields
def spectral_density(
    op,
    *,
    density_starts: int = _S["density_starts"],
    density_steps: int = _S["density_steps"],
    seed: int = _P["seed"],
):
    """The eigenvalue density of `op` by stochastic Lanczos quadrature: `density_starts`
    random starts of `density_steps` Lanczos steps each (that many products), and the share
    of negative eigenvalues with its sampling error. Returns a SpectralDensity (`.grid`,
    `.density`: the smoothed density on a grid; `.nodes`, `.weights`: each start's Gauss
    rule; `.negative_fraction_interval`: the share of negative eigenvalues as an interval
    that holds the truth at the stated confidence). Cost: density_starts × density_steps
    products."""
    from landscape.estimators.slq import spectral_density as estimate

    opt = {"density_starts": density_starts, "density_steps": density_steps}
    check_counts(opt, density_starts=1, density_steps=2)
    return estimate(op, num_starts=density_starts, lanczos_steps=density_steps, seed=seed)
