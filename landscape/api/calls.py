"""One call per analysis, each returning the report the command line prints.

Every call takes the model, the data and the loss, and the command's options as keywords of
the same names (dashes as underscores) with the same defaults (api/defaults.py). The model
is left exactly as it was: the analysis runs on a deep copy (one more copy of the parameters
and buffers, in `dtype`), in eval mode (BatchNorm uses its running statistics, dropout is
off), as the command line does. A prebuilt `ls.make_problem(...)` may be passed as the model
(then no data or loss). `report.to_dict()` is the JSON document the command line prints.

An eigenpair the solver did not certify raises `ls.NotConverged` (its `.report` holds the
partial report) unless `allow_unconverged=True`."""

from __future__ import annotations

from landscape.api.inputs import build, working_copy
from landscape.api.keywords import keywords, not_converged
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


@keywords("spectrum")
def spectrum(model, data, loss, opt):
    """Top-k and bottom-k eigenvalues of the curvature (certified: each with its residual
    bound and `converged`), with the trace (trace=True), the density (density=True), the
    condition figures and, with per_layer=True, each parameter block's top eigenvalue.

    Returns a SpectrumReport: `.top`/`.bottom` are lists of Eigenpair(value, error_bound,
    converged), largest first / smallest first; `.trace`, `.density`, `.condition`, `.solver`.
    Cost: the eigen-solver's products (usually a few times k + k_bottom, at most max_products;
    about twice with multiplicity_check), trace_samples more for the trace, density_starts ×
    density_steps for the density; one product costs about two passes over the data."""
    from landscape.analyses.spectrum import analyse_spectrum
    from landscape.curvature import make_operator

    problem = _problem(model, data, loss, opt)
    settings = spectrum_settings(opt, problem.num_params)
    op = make_operator(
        opt["curvature"], problem, strategy=opt["strategy"], mc_samples=opt["mc_samples"],
        seed=opt["seed"],
    )  # fmt: skip
    report = analyse_spectrum(problem, op, settings)
    not_converged(report, report.top + report.bottom, opt, report.solver.products)
    return report


@keywords("ggn_gap")
def ggn_gap(model, data, loss, opt):
    """How far the GGN, the Fisher and the empirical Fisher are from the Hessian (H = G + T):
    the extreme eigenvalues of H, G and T = H − G, relative Frobenius gaps (probes random
    probes, or dense matrices with exact=True), directional curvatures and the Monte-Carlo
    Fisher's error against its sample count.

    Returns a GgnGapReport. Cost: three eigen-solves (of H, G and T) plus about 2·probes
    products of H and of G, and the Monte-Carlo Fisher's sum(mc_samples) label draws."""
    from landscape.analyses.ggn_gap import analyse_ggn_gap

    problem = _problem(model, data, loss, opt)
    settings = ggn_gap_settings(opt)
    report = analyse_ggn_gap(problem, settings, strategy=opt["strategy"])
    spectra = (report.hessian, report.ggn, report.t)
    pairs = [e for s in spectra for e in s.top + s.bottom]
    not_converged(report, pairs, opt, sum(s.products for s in spectra))
    return report


@keywords("taylor_check")
def taylor_check(model, data, loss, opt):
    """The Taylor test: the residuals of the first- and second-order predictions of the loss
    along each direction (gradient, top/bottom eigenvector, random, or `direction_file`: a
    path or a flat tensor of length p) must fall with the step as η² and η³.

    Returns a TaylorReport; `.verdict` is 'passed', 'failed' (a derivative is wrong; the
    command line exits 1, the library only reports it) or 'inconclusive'. Cost: per direction
    two products (dᵀHd, dᵀGd) and a loss per step; the eigenvector directions an eigen-solve."""
    from landscape.analyses.taylor import analyse_taylor
    from landscape.curvature import make_operator

    problem = _problem(model, data, loss, opt)
    settings = taylor_settings(opt, problem)
    hessian = make_operator("hessian", problem, strategy=opt["strategy"])
    ggn = make_operator("ggn", problem, strategy=opt["strategy"])
    return analyse_taylor(problem, hessian, ggn, settings)


@keywords("sharpness", extra={"optimizer": None})
def sharpness(model, data, loss, opt, optimizer=None):
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
    report = analyse_sharpness(
        problem, settings, optimizer=optimizer_state_of({"optimizer": state} if state else {}),
        strategy=opt["strategy"],
    )  # fmt: skip
    if report.solver is not None:
        not_converged(report, report.top + report.bottom, opt, report.solver.products)
    return report


@keywords("surface")
def surface(model, data, loss, opt):
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

    return analyse_surface(problem, settings, strategy=opt["strategy"], on_eigen=certified)


@keywords("interpolate", extra={"model_b": None})
def interpolate(model, data, loss, opt, model_b=None):
    """The loss (and accuracy) on the segment (1 − α)·θ_A + α·θ_B, α over `range` in `steps`
    values, between `model` (A) and `model_b` (B, the same architecture): the barrier and
    each end's second-order Taylor model. Both models are left as they were.

    Returns an InterpolationReport. Cost: `steps` losses, and a gradient and a product at
    each end; with reset_bn=True a pass to re-estimate BatchNorm statistics at each α."""
    from landscape.analyses.surface import analyse_interpolation, match_ends

    if not hasattr(model_b, "state_dict"):
        raise InputError("model_b is missing", "pass the second model: model_b=...")
    problem = _problem(model, data, loss, opt)
    settings = interpolation_settings(opt)
    ends = match_ends(problem, working_copy(model_b), "model", "model_b")
    return analyse_interpolation(problem, ends, settings, strategy=opt["strategy"])


@keywords("params", data=False)
def params(model, opt):
    """The model's parameters (names, shapes, sizes, blocks) and which ones `params` (a regex;
    None: those that require grad) selects as θ. Returns a ParamsReport; no product."""
    from landscape.analyses.params import list_params
    from landscape.api.inputs import check_params

    check_params(model, opt["params"])
    return list_params(model, opt["params"], type(model).__name__)
