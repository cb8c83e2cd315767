"""One call per analysis, each returning the report the command line prints.

Every call takes the model, the data and the loss, and the command's options as keywords of
the same names (dashes as underscores) with the same defaults (api/defaults.py). The model
is left exactly as it was: the analysis runs on a deep copy (one more copy of the parameters
and buffers, in `dtype`), in eval mode (BatchNorm uses its running statistics, dropout is
off), as the command line does. A prebuilt `ls.make_problem(...)` may be passed as the model
(then no data or loss). `report.to_dict()` is the JSON document the command line prints.

An eigenpair the solver did not certify raises `ls.NotConverged` (its `.report` holds the
partial report) unless `allow_unconverged=True`.

`progress=` (every call but `params`): None, or a hook that hears of the long parts of the
work (see landscape/api/progress.py: the command line passes its progress bar)."""

from __future__ import annotations

from landscape.api.inputs import build, working_copy
from landscape.api.keywords import keywords, not_converged
from landscape.api.progress import hook_of, staged
from landscape.api.settings import (
    ggn_gap_settings,
    interpolation_settings,
    sharpness_settings,
    spectrum_settings,
    surface_settings,
    taylor_settings,
)
from landscape.errors import InputError
from landscape.problem import Problem


def _problem(model, data, loss, opt: dict) -> Problem:
    if isinstance(model, Problem):
        if data is not None:
            raise InputError("data: a Problem holds its data already", "leave data out")
        return model
    if data is None:
        raise InputError("data is missing", "pass the data: a DataLoader, a Dataset or (x, y)")
    return build(model, data, loss, opt)


@keywords("spectrum", extra={"progress": None})
def spectrum(model, data, loss, opt, progress=None):
    """Top-k and bottom-k eigenvalues of the curvature (certified: each with its residual
    bound and `converged`), with the trace (trace=True), the density (density=True), the
    condition figures and, with per_layer=True, each parameter block's top eigenvalue.

    Returns a SpectrumReport: `.top`/`.bottom` are lists of Eigenpair(value, error_bound,
    converged), largest first / smallest first; `.trace`, `.density`, `.condition`, `.solver`.
    Cost: the eigen-solver's products (usually a few times k + k_bottom, at most max_products;
    about twice with multiplicity_check), trace_samples more for the trace, density_starts ×
    density_steps for the density; one product costs about two passes over the data."""
    from landscape.analyses.spectrum import analyse_spectrum, product_bound
    from landscape.curvature import make_operator

    problem = _problem(model, data, loss, opt)
    settings, hook = spectrum_settings(opt, problem.num_params), hook_of(progress)
    with hook("building products"):
        op = make_operator(
            opt["curvature"], problem, strategy=opt["strategy"], mc_samples=opt["mc_samples"],
            seed=opt["seed"],
        )  # fmt: skip
    start = op.calls  # the vectors the operator was applied to, as the solver's cap counts
    total = product_bound(problem, settings)  # the most it may take: the solver stops sooner
    with hook(f"{op.name} spectrum", total, count=lambda: op.calls - start, bound=True):
        report = analyse_spectrum(problem, op, settings)
    not_converged(report, report.top + report.bottom, opt, report.solver.products)
    return report


@keywords("ggn_gap", extra={"progress": None})
def ggn_gap(model, data, loss, opt, progress=None):
    """How far the GGN, the Fisher and the empirical Fisher are from the Hessian (H = G + T):
    the extreme eigenvalues of H, G and T = H − G, relative Frobenius gaps (probes random
    probes, or dense matrices with exact=True), directional curvatures and the Monte-Carlo
    Fisher's error against its sample count.

    Returns a GgnGapReport. Cost: three eigen-solves (of H, G and T) plus about 2·probes
    products of H and of G, and the Monte-Carlo Fisher's sum(mc_samples) label draws."""
    from landscape.analyses.ggn_gap import analyse_ggn_gap

    problem = _problem(model, data, loss, opt)
    settings = ggn_gap_settings(opt)
    with hook_of(progress)("ggn-gap") as tick:
        report = analyse_ggn_gap(problem, settings, strategy=opt["strategy"], progress=staged(tick))
    spectra = (report.hessian, report.ggn, report.t)
    pairs = [e for s in spectra for e in s.top + s.bottom]
    not_converged(report, pairs, opt, sum(s.products for s in spectra))
    return report


@keywords("taylor_check", extra={"progress": None})
def taylor_check(model, data, loss, opt, progress=None):
    """The Taylor test: the residuals of the first- and second-order predictions of the loss
    along each direction (gradient, top/bottom eigenvector, random, or `direction_file`: a
    path or a flat tensor of length p) must fall with the step as η² and η³.

    Returns a TaylorReport; `.verdict` is 'passed', 'failed' (a derivative is wrong; the
    command line exits 1, the library only reports it) or 'inconclusive'. Cost: per direction
    two products (dᵀHd, dᵀGd) and a loss per step; the eigenvector directions an eigen-solve."""
    from landscape.analyses.taylor import analyse_taylor
    from landscape.curvature import make_operator

    problem = _problem(model, data, loss, opt)
    settings, hook = taylor_settings(opt, problem), hook_of(progress)
    with hook("building products"):
        hessian = make_operator("hessian", problem, strategy=opt["strategy"])
        ggn = make_operator("ggn", problem, strategy=opt["strategy"])
    count = len(settings.directions) + (settings.direction_vector is not None)
    with hook("taylor-check", count, unit="directions") as tick:
        return analyse_taylor(problem, hessian, ggn, settings, progress=lambda _s, n: tick(n))


@keywords("sharpness", extra={"optimizer": None, "progress": None})
def sharpness(model, data, loss, opt, optimizer=None, progress=None):
    """λ_max (certified), the trace, stability against the learning rate `lr` (with
    `momentum`, `nesterov`), Adam's preconditioned sharpness (from `optimizer`: a
    torch.optim.Adam/AdamW or its state_dict, θ's parameters in the same order), ε-sharpness,
    adaptive worst- and average-case sharpness, and 1D loss slices.

    Returns a SharpnessReport. Cost: an eigen-solve for k eigenvalues, trace_samples products,
    ascent_steps loss-and-gradient passes per worst case, avg_samples·2 losses for the average
    case and slice_points losses per slice."""
    from landscape.analyses.sharpness import analyse_sharpness, optimizer_state_of

    problem = _problem(model, data, loss, opt)
    settings = sharpness_settings(opt, problem.num_params)
    state = optimizer.state_dict() if hasattr(optimizer, "state_dict") else optimizer
    with hook_of(progress)("sharpness", unit="") as tick:
        report = analyse_sharpness(
            problem, settings, optimizer=optimizer_state_of({"optimizer": state} if state else {}),
            strategy=opt["strategy"], progress=staged(tick),
        )  # fmt: skip
    if report.solver is not None:
        not_converged(report, report.top + report.bottom, opt, report.solver.products)
    return report


@keywords("surface", extra={"progress": None})
def surface(model, data, loss, opt, progress=None):
    """The loss on a plane (dims=2) or a line (dims=1) through θ along random
    (filter-normalised) directions, the top Hessian eigenvectors (directions='hessian',
    certified) or direction files, with the quadratic model and its trust region.

    Returns a SurfaceReport. Cost: grid**dims losses (batched over points), and an eigen-solve
    with directions='hessian'."""
    from landscape.analyses.surface import analyse_surface

    problem = _problem(model, data, loss, opt)
    settings = surface_settings(opt)

    def certified(eig) -> None:
        not_converged(eig, eig.top, opt, eig.products)

    with hook_of(progress)("surface", settings.grid**settings.dims, unit="points") as tick:
        return analyse_surface(
            problem, settings, strategy=opt["strategy"], on_eigen=certified,
            progress=lambda stage, n: tick(n) if stage == "grid points" else None,
        )  # fmt: skip


@keywords("interpolate", extra={"model_b": None, "names": None, "progress": None})
def interpolate(model, data, loss, opt, model_b=None, names=None, progress=None):
    """The loss (and accuracy) on the segment (1 − α)·θ_A + α·θ_B, α over `range` in `steps`
    values, between `model` (A) and `model_b` (B, the same architecture): the barrier and
    each end's second-order Taylor model. Both models are left as they were. `names`: what
    the report calls the two ends (default ("model", "model_b"); the command line gives the
    checkpoints' paths).

    Returns an InterpolationReport. Cost: `steps` losses, and a gradient and a product at
    each end; with reset_bn=True a pass to re-estimate BatchNorm statistics at each α."""
    from landscape.analyses.surface import analyse_interpolation, match_ends

    if not hasattr(model_b, "state_dict"):
        raise InputError("model_b is missing", "pass the second model: model_b=...")
    problem = _problem(model, data, loss, opt)
    settings = interpolation_settings(opt)
    ends = match_ends(problem, working_copy(model_b), *(names or ("model", "model_b")))
    with hook_of(progress)("interpolation", settings.steps, unit="points") as tick:
        return analyse_interpolation(
            problem, ends, settings, strategy=opt["strategy"], progress=lambda _s, n: tick(n)
        )


@keywords("params", data=False)
def params(model, opt):
    """The model's parameters (names, shapes, sizes, blocks) and which ones `params` (a regex;
    None: those that require grad) selects as θ. Returns a ParamsReport; no product."""
    from landscape.analyses.params import list_params
    from landscape.api.inputs import check_params

    check_params(model, opt["params"])
    return list_params(model, opt["params"], type(model).__name__)


@keywords("track", extra={"checkpoints": None, "trust_checkpoint": False, "on_row": None})
def track(model, data, loss, opt, checkpoints=None, trust_checkpoint=False, on_row=None):
    """`ls.track` with the model first: the curvature of `model` (or a prebuilt problem) at
    each of `checkpoints`, one row each in step order (see `ls.track`)."""
    from landscape.api.tracking import run_track

    problem = _problem(model, data, loss, opt)
    return run_track(problem, checkpoints, opt, trust_checkpoint, on_row)
