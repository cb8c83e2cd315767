"""`landscape sharpness`: curvature and perturbation sharpness figures, by the gate's names.

- λ_max, λ_min (Lanczos, certified residual bounds), trace and trace/p (Hutch++).
- Stability against the learning rate η: plain GD on the local quadratic is stable for
  η < 2/λ_max; the margin is η·λ_max/2 (> 1: beyond the edge of stability).
- Adam state in the checkpoint: preconditioned sharpness and the √v̂ ↔ |diag H| fit (adam.py).
- ε-sharpness (Keskar et al. 2017, "On large-batch training ... sharp minima", metric 2.1 with
  A = I): max over the box |δ_i| ≤ ε(|θ_i| + 1) of L(θ+δ) − L(θ), in % of 1 + L(θ).
- Adaptive worst-case sharpness (Andriushchenko et al. 2023, "A modern look at the
  relationship between sharpness and generalization", eq. 2 with c = |θ|, p = ∞): the mean
  over batches S of m examples of max_{|δ_i| ≤ ρ|θ_i|} L_S(θ+δ) − L_S(θ); their defaults
  ρ = 0.001 (the repository's example for adaptive ℓ∞), m = 128, 20 ascent iterations.
- Adaptive average-case sharpness (same paper, eq. 3 with c = |θ|, p = 2):
  E_{δ∼N(0, ρ² diag(θ²))}[L(θ+δ) − L(θ)], ρ = 0.1 (their script's default), with a standard
  error; each δ is paired with −δ (antithetic), which cancels the gradient term's noise and
  leaves the expectation unchanged.
- 1D loss slices along the top eigenvector and along filter-normalised random directions
  (Li et al. 2018, "Visualizing the loss landscape of neural nets"; biases get no component).

The two worst-case figures come from projected sign-gradient ascent in the box (the ℓ∞
steepest-ascent step, as in the authors' code): steps of α times the box half-width, α = 2 at
first so that a coordinate may cross the box in one step, halved after every step that does
not raise the loss. Every evaluated point lies in the box, so the result is a certified
*lower* bound of the maximum; `kkt` says whether the ascent stopped at a KKT point (every
coordinate at the face its gradient points to), a candidate local maximum.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from landscape_cli.analyses.sharpness.adam import (
    AdamReport,
    AdamStateError,
    adam_state,
    analyse_adam,
    single_lr,
)
from landscape_cli.analyses.spectrum import SolverInfo
from landscape_cli.curvature import HessianOperator
from landscape_cli.estimators.lanczos import Eigenpair, EigenResult, extreme_eigenpairs
from landscape_cli.estimators.trace import TraceEstimate, hutchpp_trace
from landscape_cli.problem import Problem, flatten

STDERR_BOUND = 3.0  # stochastic figures carry ±3 standard errors as their error bound

# The metrics, by the names the gate uses, and what each one means.
METRICS: dict[str, str] = {
    "loss": "L(θ), the mean loss over the examples",
    "lambda_max": "largest Hessian eigenvalue (Lanczos; bound: residual ‖Hv − λv‖)",
    "lambda_min": "smallest Hessian eigenvalue (Lanczos; bound: residual)",
    "trace": "tr H (Hutch++; bound: 3 standard errors)",
    "trace_per_param": "tr H / p (Hutch++; bound: 3 standard errors / p)",
    "stability_margin": "η·λ_max/2: gradient descent is stable on the local quadratic below 1",
    "eps_sharpness": "Keskar ε-sharpness in % of 1 + L (ascent: a lower bound of the max)",
    "adaptive_sharpness": "adaptive ℓ∞ worst-case sharpness, Andriushchenko et al. 2023 "
    "(ascent: a lower bound of the max)",
    "average_sharpness": "adaptive average-case sharpness E[L(θ+δ) − L(θ)], δ ~ N(0, ρ²θ²) "
    "(bound: 3 standard errors)",
    "preconditioned_sharpness": "λ_max(D^-1/2 H D^-1/2), D = diag(√v̂ + ε) from the Adam "
    "state (Lanczos; bound: residual)",
    "adam_stability_margin": "preconditioned sharpness / ((2 + 2β₁)/((1 − β₁)η)); Adam is "
    "stable on the local quadratic below 1",
    "adam_rank_correlation": "Spearman correlation between √v̂ and |diag H| (Diag++ estimate)",
    "adam_diag_scale": "c in |diag H| ≈ c·√v̂ (median ratio; c·η = 1: Adam steps are "
    "diagonal Newton steps)",
}

# Which parts of the analysis each metric needs (the gate computes only those).
PARTS_OF: dict[str, tuple[str, ...]] = {
    "loss": (),
    "lambda_max": ("top",),
    "lambda_min": ("bottom",),
    "trace": ("trace",),
    "trace_per_param": ("trace",),
    "stability_margin": ("top",),
    "eps_sharpness": ("eps",),
    "adaptive_sharpness": ("adaptive",),
    "average_sharpness": ("average",),
    "preconditioned_sharpness": ("adam_eigen",),
    "adam_stability_margin": ("adam_eigen",),
    "adam_rank_correlation": ("adam_diag",),
    "adam_diag_scale": ("adam_diag",),
}
ALL_PARTS = frozenset(
    {"top", "bottom", "trace", "eps", "adaptive", "average", "adam_eigen", "adam_diag", "slices"}
)
ADAM_METRICS = (
    "preconditioned_sharpness",
    "adam_stability_margin",
    "adam_rank_correlation",
    "adam_diag_scale",
)


@dataclass
class Metric:
    value: float
    error_bound: float | None = None  # None: no bound is known (see `note`)
    note: str = ""


@dataclass
class SharpnessSettings:
    k_top: int = 5
    k_bottom: int = 1
    tol: float = 1e-6
    max_products: int | None = None
    trace_samples: int = 60
    lr: float | None = None
    lr_source: str = "option"
    eps_sharpness: float = 1e-3
    rho: float = 1e-3  # adaptive worst-case radius (ℓ∞, scaled by |θ|)
    avg_rho: float = 0.1  # adaptive average-case σ/|θ|
    ascent_steps: int = 20
    chunk_size: int = 128  # m: examples per batch of the adaptive worst case
    avg_samples: int = 32
    diag_samples: int = 100
    slice_points: int = 41
    slice_radius: float = 1.0
    slice_directions: int = 2
    seed: int = 0


@dataclass
class AscentResult:
    increase: float  # largest L(θ+δ) − L(θ) found (a lower bound of the max)
    evaluations: int  # loss-and-gradient evaluations, the start included
    kkt: bool  # stopped at a KKT point of the box problem
    last_step: float  # last step size, in units of the box half-width


@dataclass
class EpsSharpness:
    epsilon: float
    percent: float  # 100·increase/(1 + L)
    increase: float
    ascent: AscentResult


@dataclass
class AdaptiveSharpness:
    rho: float
    chunk_size: int
    chunks: int
    value: float  # size-weighted mean over the chunks of each chunk's max increase
    evaluations: int  # per chunk, summed
    kkt_fraction: float


@dataclass
class AverageSharpness:
    rho: float
    samples: int  # perturbations δ, each evaluated at ±δ
    value: float
    stderr: float


@dataclass
class Stability:
    lr: float
    lr_source: str
    edge: float | None  # 2/λ_max (None when λ_max ≤ 0)
    margin: float  # η·λ_max/2
    margin_bound: float
    verdict: str


@dataclass
class LossSlice:
    label: str
    kind: str  # "eigenvector" | "filter-normalised"
    t: list[float]
    loss: list[float]
    quadratic: list[float] | None = None  # L + t·gᵀd + ½t²·λ along the eigenvector


@dataclass(kw_only=True)
class SharpnessReport:
    command: str = "sharpness"
    num_params: int
    num_samples: int
    loss: float
    metrics: dict[str, Metric]
    unavailable: dict[str, str]  # metric → why it was not computed
    top: list[Eigenpair]
    bottom: list[Eigenpair]
    solver: SolverInfo | None
    trace: TraceEstimate | None
    stability: Stability | None
    adam: AdamReport | None
    eps_sharpness: EpsSharpness | None
    adaptive_sharpness: AdaptiveSharpness | None
    average_sharpness: AverageSharpness | None
    slices: list[LossSlice] | None
    settings: SharpnessSettings
    products: int  # Hessian-vector products
    gradient_evaluations: int
    seconds: float
    strategy: str
    dtype: str
    device: str
    eigen: EigenResult | None = field(default=None, repr=False)


# ------------------------------------------------------------------------ the analysis
Progress = Callable[[str, int], None]


def parts_for(metrics) -> set[str]:
    """The analysis parts the named metrics need."""
    return {part for name in metrics for part in PARTS_OF.get(name, ())}


def resolve_adam(problem: Problem, optimizer: dict | None, lr: float | None):
    """(AdamState, η) or (None, reason)."""
    if optimizer is None:
        return None, "the checkpoint holds no optimizer state"
    try:
        state = adam_state(problem, optimizer)
        return (state, single_lr(state, lr)), ""
    except AdamStateError as exc:
        return None, f"the optimizer state cannot be used: {exc}"


def unavailable_metrics(problem: Problem, settings: SharpnessSettings, optimizer) -> dict:
    """Metrics that cannot be computed for this checkpoint, with the reason (cheap)."""
    adam_pair, reason = resolve_adam(problem, optimizer, settings.lr)
    return _unavailable(adam_pair, reason, _learning_rate(settings, adam_pair)[0])


def _unavailable(adam_pair, adam_reason: str, lr: float | None) -> dict[str, str]:
    out = {}
    if adam_pair is None:
        out.update({name: adam_reason for name in ADAM_METRICS})
    if lr is None:
        out["stability_margin"] = "no learning rate: pass --lr (or store 'lr' in the checkpoint)"
    return out


def analyse_sharpness(
    problem: Problem,
    settings: SharpnessSettings,
    *,
    parts: set[str] | None = None,
    optimizer: dict | None = None,
    strategy: str = "auto",
    progress: Progress | None = None,
) -> SharpnessReport:
    """Every sharpness figure (parts=None) or only the listed parts (see PARTS_OF)."""
    start = time.perf_counter()
    parts = set(ALL_PARTS if parts is None else parts)
    if "slices" in parts:
        parts.add("top")
    tell = progress or (lambda stage, n: None)
    loss = problem.loss_at()
    adam_pair, adam_reason = resolve_adam(problem, optimizer, settings.lr)
    hessian_parts = {"top", "bottom", "trace", "adam_eigen", "adam_diag"}
    op = HessianOperator(problem, strategy) if parts & hessian_parts else None
    eig = _eigen(op, settings, parts, tell) if {"top", "bottom"} & parts else None
    trace = (
        hutchpp_trace(op, settings.trace_samples, seed=settings.seed) if "trace" in parts else None
    )
    adam = _adam(op, adam_pair, settings, parts, tell)
    lr, lr_source = _learning_rate(settings, adam_pair)
    top = eig.top[0] if eig and eig.top else None
    stability = stability_of(top, lr, lr_source) if top is not None and lr is not None else None
    counter = _Counter()
    eps = _eps_sharpness(problem, settings, loss, counter) if "eps" in parts else None
    adaptive = _adaptive(problem, settings, counter, tell) if "adaptive" in parts else None
    average = _average(problem, settings, loss) if "average" in parts else None
    slices = _slices(problem, settings, eig, loss) if "slices" in parts else None
    unavailable = _unavailable(adam_pair, adam_reason, lr)
    report = SharpnessReport(
        num_params=problem.num_params,
        num_samples=problem.num_samples,
        loss=loss,
        metrics={},
        unavailable=unavailable,
        top=eig.top if eig else [],
        bottom=eig.bottom if eig else [],
        solver=_solver(eig),
        trace=trace,
        stability=stability,
        adam=adam,
        eps_sharpness=eps,
        adaptive_sharpness=adaptive,
        average_sharpness=average,
        slices=slices,
        settings=settings,
        products=op.products if op else 0,
        gradient_evaluations=counter.count,
        seconds=0.0,
        strategy=getattr(op, "strategy", "none"),
        dtype=str(problem.dtype).replace("torch.", ""),
        device=str(problem.device),
        eigen=eig,
    )
    report.metrics = collect_metrics(report)
    report.seconds = time.perf_counter() - start
    return report


def _eigen(op, settings: SharpnessSettings, parts: set[str], tell) -> EigenResult:
    k_top = max(1, settings.k_top) if "top" in parts else 0
    k_bottom = max(1, settings.k_bottom) if "bottom" in parts else 0
    return extreme_eigenpairs(
        op,
        k_top,
        k_bottom,
        tol=settings.tol,
        max_products=settings.max_products,
        seed=settings.seed,
        progress=lambda n: tell("eigenvalues", n),
    )


def _adam(op, adam_pair, settings: SharpnessSettings, parts: set[str], tell):
    wanted = {"adam_eigen", "adam_diag"} & parts
    if adam_pair is None or not wanted:
        return None
    state, lr = adam_pair
    return analyse_adam(
        op,
        state,
        lr,
        eigen="adam_eigen" in parts,
        diagonal="adam_diag" in parts,
        tol=settings.tol,
        max_products=settings.max_products,
        diag_samples=settings.diag_samples,
        seed=settings.seed,
        progress=lambda n: tell("preconditioned eigenvalue", n),
    )


def _learning_rate(settings: SharpnessSettings, adam_pair) -> tuple[float | None, str]:
    if settings.lr is not None:
        return float(settings.lr), settings.lr_source
    if adam_pair is not None:
        return adam_pair[1], "optimizer state"
    return None, ""


def _solver(eig: EigenResult | None) -> SolverInfo | None:
    if eig is None:
        return None
    return SolverInfo(
        eig.converged, eig.tol, eig.products, eig.restarts, eig.krylov_dim, eig.seconds
    )


def stability_of(top: Eigenpair, lr: float, source: str) -> Stability:
    """GD stability on the local quadratic: stable iff η·λ_max < 2 (MATH.md, 001)."""
    margin, bound = lr * top.value / 2, lr * top.error_bound / 2
    edge = 2 / top.value if top.value > 0 else None
    product = 2 * margin
    if top.value <= 0:
        verdict = "no positive curvature: the step size is not limited by curvature here"
    elif margin - bound > 1:
        verdict = (
            f"beyond the edge of stability: η·λ_max = {product:.4g} > 2, gradient "
            f"descent with η = {lr:g} would grow along the top eigenvector"
        )
    elif margin + bound >= 0.9:
        verdict = f"at the edge of stability: η·λ_max = {product:.4g} is within 10% of 2"
    else:
        verdict = (
            f"stable: η·λ_max = {product:.4g} < 2 (η could grow {1 / margin:.3g}× "
            "before gradient descent turns unstable)"
        )
    return Stability(lr, source, edge, margin, bound, verdict)


# ---------------------------------------------------------------- perturbation sharpness
class _Counter:
    def __init__(self):
        self.count = 0


def value_and_gradient(problem: Problem, flat: Tensor) -> tuple[float, Tensor]:
    """L and ∇L at `flat` in one pass over the batches."""
    leaves = [p.detach().requires_grad_() for p in problem.unflatten(flat)]

    def part(batch):
        loss = problem.batch_loss(leaves, batch)
        grads = torch.autograd.grad(loss, leaves, allow_unused=True)
        grads = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, leaves)]
        return torch.cat([loss.detach().reshape(1), flatten(grads)])

    total = problem.batch_sum(part)
    return float(total[0]), total[1:]


def box_ascent(
    value_grad: Callable[[Tensor], tuple[float, Tensor]],
    theta: Tensor,
    radius: Tensor,
    steps: int,
    generator: torch.Generator,
) -> AscentResult:
    """max over |δ_i| ≤ r_i of L(θ+δ) − L(θ) by projected sign-gradient ascent (see top)."""
    base, grad = value_grad(theta)
    delta = torch.zeros_like(theta)
    direction = torch.sign(grad)
    dead = (direction == 0) & (radius > 0)  # a zero gradient (e.g. at a minimum): random side
    if bool(dead.any()):
        coin = torch.randint(0, 2, theta.shape, generator=generator).to(theta) * 2 - 1
        direction = torch.where(dead, coin, direction)
    best, alpha, evaluations = 0.0, 2.0, 1
    for _ in range(steps):
        proposal = torch.clamp(delta + alpha * radius * direction, -radius, radius)
        if torch.equal(proposal, delta):
            break
        value, grad = value_grad(theta + proposal)
        evaluations += 1
        if value - base > best:
            best, delta, direction = value - base, proposal, torch.sign(grad)
        else:
            alpha /= 2
    kkt = bool(torch.equal(torch.clamp(delta + radius * direction, -radius, radius), delta))
    return AscentResult(best, evaluations, kkt, alpha)


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def _eps_sharpness(problem, settings, loss, counter) -> EpsSharpness:
    theta = problem.flat_params()
    radius = settings.eps_sharpness * (theta.abs() + 1)

    def value_grad(flat):
        counter.count += 1
        return value_and_gradient(problem, flat)

    ascent = box_ascent(value_grad, theta, radius, settings.ascent_steps, _generator(settings.seed))
    percent = 100 * ascent.increase / (1 + loss)
    return EpsSharpness(settings.eps_sharpness, percent, ascent.increase, ascent)


def chunks(problem: Problem, size: int) -> list[Problem]:
    """The data in consecutive batches of `size` examples, each as its own problem."""
    x = torch.cat([b[0] for b in problem.batches])
    y = torch.cat([b[1] for b in problem.batches])
    out = []
    for i in range(0, len(x), size):
        xc, yc = x[i : i + size], y[i : i + size]
        out.append(
            Problem(
                problem.model,
                problem.names,
                problem.params,
                [(xc, yc)],
                problem.loss,
                len(xc),
                problem.metadata,
            )
        )
    return out


def _adaptive(problem, settings, counter, tell) -> AdaptiveSharpness:
    theta = problem.flat_params()
    radius = settings.rho * theta.abs()
    gen = _generator(settings.seed)
    total, kkt, evaluations = 0.0, 0, 0
    parts = chunks(problem, settings.chunk_size)
    for i, part in enumerate(parts):

        def value_grad(flat, part=part):
            counter.count += 1
            return value_and_gradient(part, flat)

        result = box_ascent(value_grad, theta, radius, settings.ascent_steps, gen)
        total += result.increase * part.num_samples
        kkt += result.kkt
        evaluations += result.evaluations
        tell("adaptive sharpness (batches)", i + 1)
    return AdaptiveSharpness(
        settings.rho,
        settings.chunk_size,
        len(parts),
        total / problem.num_samples,
        evaluations,
        kkt / len(parts),
    )


def _average(problem, settings, loss) -> AverageSharpness:
    theta = problem.flat_params()
    sigma = settings.avg_rho * theta.abs()
    gen = _generator(settings.seed)
    values = []
    for _ in range(settings.avg_samples):
        z = torch.randn(theta.shape, generator=gen, dtype=torch.float64).to(theta)
        delta = sigma * z
        pair = 0.5 * (problem.loss_at(theta + delta) + problem.loss_at(theta - delta))
        values.append(pair - loss)
    values_t = torch.tensor(values, dtype=torch.float64)
    n = len(values)
    stderr = float(values_t.std(unbiased=True)) / math.sqrt(n) if n > 1 else math.inf
    return AverageSharpness(settings.avg_rho, n, float(values_t.mean()), stderr)


# ------------------------------------------------------------------------------ slices
def filter_normalised_direction(problem: Problem, generator: torch.Generator) -> Tensor:
    """A Gaussian direction rescaled filter by filter to the norms of θ's filters (Li et al.
    2018): each slice along dim 0 of a weight tensor (a Linear row, a Conv output channel
    with all its input channels and kernel taps) gets ‖d_i‖ = ‖θ_i‖; 1-D parameters
    (biases, norms) get 0, unless θ holds nothing else."""
    parts = []
    for p in problem.params:
        d = torch.randn(p.shape, generator=generator, dtype=torch.float64).to(p)
        if p.ndim >= 2:
            d = d * _filter_norms(p) / _filter_norms(d).clamp_min(1e-30)
        else:
            d = torch.zeros_like(p)
        parts.append(d.reshape(-1))
    direction = torch.cat(parts)
    if float(direction.norm()) == 0:  # only 1-D parameters: normalise each tensor whole
        parts = []
        for p in problem.params:
            d = torch.randn(p.shape, generator=generator, dtype=torch.float64).to(p)
            parts.append((d * p.norm() / d.norm().clamp_min(1e-30)).reshape(-1))
        direction = torch.cat(parts)
    return direction


def _filter_norms(w: Tensor) -> Tensor:
    """‖w_i‖ of each slice w_i = w[i] (flattened), shaped to broadcast against w."""
    return torch.linalg.vector_norm(w.flatten(1), dim=1).reshape(-1, *[1] * (w.ndim - 1))


def loss_slice(problem: Problem, direction: Tensor, t: Tensor) -> list[float]:
    theta = problem.flat_params()
    return [problem.loss_at(theta + float(s) * direction) for s in t]


def _slices(problem, settings, eig, loss) -> list[LossSlice]:
    t = torch.linspace(
        -settings.slice_radius, settings.slice_radius, settings.slice_points, dtype=torch.float64
    )
    slices = []
    if eig is not None and eig.top_vectors is not None and eig.top_vectors.shape[1]:
        v = eig.top_vectors[:, 0].to(dtype=problem.dtype, device=problem.device)
        slope = float(problem.gradient().double() @ v.double())
        lam = eig.top[0].value
        quad = [loss + float(s) * slope + 0.5 * lam * float(s) ** 2 for s in t]
        slices.append(
            LossSlice("top eigenvector", "eigenvector", t.tolist(), loss_slice(problem, v, t), quad)
        )
    gen = _generator(settings.seed + 1)
    for i in range(settings.slice_directions):
        d = filter_normalised_direction(problem, gen)
        slices.append(
            LossSlice(
                f"random direction {i + 1}",
                "filter-normalised",
                t.tolist(),
                loss_slice(problem, d, t),
            )
        )
    return slices


# ----------------------------------------------------------------------------- metrics
def collect_metrics(r: SharpnessReport) -> dict[str, Metric]:
    """The computed figures by the gate's names, each with its error bound where one exists."""
    m: dict[str, Metric] = {"loss": Metric(r.loss, None, "exact")}
    if r.top:
        top = r.top[0]
        m["lambda_max"] = Metric(top.value, top.error_bound, _lanczos_note(top))
    if r.bottom:
        low = r.bottom[0]
        m["lambda_min"] = Metric(low.value, low.error_bound, _lanczos_note(low))
    if r.trace is not None:
        bound = STDERR_BOUND * r.trace.stderr
        note = f"{r.trace.method}, {r.trace.products} products; ±3 stderr"
        m["trace"] = Metric(r.trace.value, bound, note)
        m["trace_per_param"] = Metric(r.trace.value / r.num_params, bound / r.num_params, note)
    if r.stability is not None:
        s = r.stability
        m["stability_margin"] = Metric(s.margin, s.margin_bound, f"η·λ_max/2, η = {s.lr:g}")
    if r.eps_sharpness is not None:
        e = r.eps_sharpness
        m["eps_sharpness"] = Metric(
            e.percent, None, _ascent_note(e.ascent.evaluations, e.ascent.kkt)
        )
    if r.adaptive_sharpness is not None:
        a = r.adaptive_sharpness
        note = f"ρ = {a.rho:g}, m = {a.chunk_size}, ascent: a lower bound"
        m["adaptive_sharpness"] = Metric(a.value, None, note)
    if r.average_sharpness is not None:
        a = r.average_sharpness
        m["average_sharpness"] = Metric(
            a.value, STDERR_BOUND * a.stderr, f"ρ = {a.rho:g}, {a.samples} ± pairs; ±3 stderr"
        )
    if r.adam is not None:
        m.update(_adam_metrics(r.adam))
    return m


def _lanczos_note(pair: Eigenpair) -> str:
    return "Lanczos residual" + ("" if pair.converged else " (NOT converged)")


def _ascent_note(evaluations: int, kkt: bool) -> str:
    stop = "KKT point" if kkt else "not at a KKT point"
    return f"{evaluations} ascent evaluations ({stop}): a lower bound"


def _adam_metrics(a: AdamReport) -> dict[str, Metric]:
    m = {}
    if a.preconditioned is not None:
        pair = a.preconditioned
        m["preconditioned_sharpness"] = Metric(pair.value, pair.error_bound, _lanczos_note(pair))
        m["adam_stability_margin"] = Metric(
            a.margin, pair.error_bound / a.threshold, f"of (2+2β₁)/((1−β₁)η) = {a.threshold:.6g}"
        )
    if a.fit is not None:
        f = a.fit
        how = "exact diag H" if f.exact else f"Diag++ diag H, {f.samples} products"
        m["adam_rank_correlation"] = Metric(f.rank_correlation, None, how)
        m["adam_diag_scale"] = Metric(f.scale, None, f"c·η = {f.newton_ratio:.3g}")
    return m
