"""Write the generated reference pages: docs/reference/cli.md and docs/reference/json.md.

    python docs/gen_reference.py            # rewrite both pages
    python docs/gen_reference.py --check    # exit 1 when a committed page is out of date

The command line's options come from the one option table (landscape/cli/options.py: TABLE,
whose library defaults come from landscape/api/defaults.py); the JSON fields from the report
dataclasses, walked field by field as `landscape.report.to_jsonable` serialises them (fields
with repr=False stay out). A field's description is the comment on its line (or the comment
lines right above it) in the dataclass' source, else its entry in FIELD_NOTES below. A field
with neither makes `undocumented()` name it, and tests/test_docs.py fail.

mkdocs runs this before every build (docs/hooks.py), and the pages are committed too, so that
they read on GitHub."""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import io
import re
import sys
import tokenize
import types
import typing
from enum import Enum
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PAGES = {"cli": ROOT / "docs/reference/cli.md", "json": ROOT / "docs/reference/json.md"}

# the report each command prints with --json (module, class)
REPORTS = {
    "spectrum": ("landscape.analyses.spectrum", "SpectrumReport"),
    "ggn-gap": ("landscape.analyses.ggn_gap.report", "GgnGapReport"),
    "taylor-check": ("landscape.analyses.taylor.report", "TaylorReport"),
    "sharpness": ("landscape.analyses.sharpness.report", "SharpnessReport"),
    "gate": ("landscape.analyses.gate", "GateReport"),
    "surface": ("landscape.analyses.surface.report", "SurfaceReport"),
    "interpolate": ("landscape.analyses.surface.report", "InterpolationReport"),
    "track": ("landscape.analyses.track.report", "TrackReport"),
    "params": ("landscape.analyses.params", "ParamsReport"),
}

# Descriptions of fields whose source line carries no comment. Keys: "Class.field", or a bare
# field name for the same meaning in every report.
FIELD_NOTES = {
    "command": "the command that wrote the report",
    "num_params": "p: the parameters in θ (or in the block)",
    "num_samples": "N: the examples analysed",
    "loss": "L(θ): the mean loss over the examples (counted targets)",
    "products": "curvature-vector products (a block of b vectors counts b)",
    "seconds": "wall time in seconds",
    "strategy": "how the products were formed: kept-graph | double-backward | forward-over-reverse",
    "dtype": "the working dtype of the model, the data and the products",
    "device": "the device the analysis ran on",
    "name": "the name (of the direction, block, parameter or figure)",
    "value": "the figure's value",
    "converged": "every pair reached the tolerance (certified)",
    "Eigenpair.value": "θ: the Rayleigh quotient of the unit Ritz vector x",
    "Eigenpair.converged": "error_bound ≤ tol·max|λ|",
    "Estimate.value": "the estimate",
    "SpectrumReport.curvature": "the matrix: hessian | ggn | fisher | ef",
    "SpectrumReport.top": "the largest eigenvalues, descending",
    "SpectrumReport.bottom": "the smallest eigenvalues, ascending (most negative first)",
    "SpectrumReport.trace": "the Hutch++ trace (null without --trace)",
    "SpectrumReport.condition": "condition figures",
    "SpectrumReport.solver": "the eigen-solver's figures",
    "SpectrumReport.products": "every product of the run (solver, trace, density, per layer)",
    "SpectrumReport.density": "the SLQ spectral density (null without --density)",
    "SpectrumReport.per_layer": "each parameter block's λ_max (null without --per-layer)",
    "SolverInfo.converged": "every eigenvalue asked for is certified",
    "SolverInfo.tol": "converged when ‖Av − λv‖ ≤ tol·max|λ|",
    "SolverInfo.products": "the solver's products",
    "SolverInfo.restarts": "thick restarts",
    "SolverInfo.krylov_dim": "the Krylov space's dimension at the end",
    "SolverInfo.seconds": "the solver's wall time",
    "LayerSpectrum.lambda_max": "the block's top eigenvalue, certified",
    "LayerSpectrum.num_params": "the block's parameters",
    "TraceEstimate.products": "products spent on the trace",
    "TraceEstimate.method": "hutch++ | hutchinson | exact (stderr 0)",
    "Estimate.stderr": "one standard error (0 when exact)",
    "SpectralDensity.grid": "the λ grid the smoothed density is drawn on",
    "SpectralDensity.density": "the Gaussian-smoothed density on the grid (integrates to 1)",
    "SpectralDensity.nodes": "each start's Gauss quadrature nodes (Ritz values)",
    "SpectralDensity.weights": "each start's quadrature weights",
    "SpectralDensity.confidence": "the confidence of the intervals over the random starts (0.99)",
    "SpectralDensity.lambda_min": "the smallest node over the starts",
    "SpectralDensity.lambda_max": "the largest node over the starts",
    "SpectralDensity.products": "products spent on the density (starts × steps)",
    "SpectralDensity.num_starts": "random starts (--density-starts)",
    "SpectralDensity.lanczos_steps": "Lanczos steps per start (--density-steps)",
    "SpectralDensity.sigma": "the Gaussian smoothing's width",
    "Spectra.note": "why an end was not solved, or a cluster's interval, when one applies",
    "GgnGapReport.loss_name": "the loss: cross-entropy | nll | bce | mse",
    "GgnGapReport.exact": "dense matrices (--exact) rather than products and probes",
    "GgnGapReport.hessian": "H's extreme eigenvalues",
    "GgnGapReport.ggn": "G's extreme eigenvalues",
    "GgnGapReport.t": "T = H − G's extreme eigenvalues",
    "GgnGapReport.frobenius_gap": "‖H − G‖_F / ‖H‖_F and the norms",
    "GgnGapReport.directions": "dᵀHd = dᵀGd + dᵀTd along unit directions",
    "GgnGapReport.fisher_vs_ggn": "repeats fisher_check.max_relative_difference",
    "GgnGapReport.fisher_check": "the exact Fisher against G",
    "GgnGapReport.mc_fisher": "the Monte-Carlo Fisher's error against G for each S",
    "GgnGapReport.empirical_fisher_gap": "repeats empirical_fisher.relative_frobenius.value",
    "GgnGapReport.empirical_fisher": "the empirical Fisher against G",
    "GgnGapReport.context": "why T is the size it is",
    "GgnGapReport.per_layer": "each block's gap (null without --per-layer)",
    "GgnGapReport.products": "products per matrix: hessian, ggn, fisher, empirical_fisher, "
    "mc_fisher, total (T's count in hessian and ggn)",
    "Direction.dHd": "dᵀHd",
    "FisherCheck.products": "products spent on the check",
    "MonteCarloFisher.points": "one entry per S in --mc-samples",
    "MonteCarloFisher.expected_slope": "−0.5, the 1/√S law",
    "MonteCarloFisher.products": "products spent on the Monte-Carlo Fisher",
    "EmpiricalFisherGap.products": "products spent on the empirical Fisher",
    "EmpiricalFisherGap.not_a_curvature": "always true: EF is built from the data labels' "
    "gradients",
    "EmpiricalFisherGap.note": "why EF is not a curvature, in words",
    "FitContext.fit_definition": "the tolerance `fit_share` uses, in words",
    "LayerGap.num_params": "the block's parameters",
    "LayerGap.frobenius_gap": "‖T_bb‖_F / ‖H_bb‖_F over the block's probes",
    "LayerGap.t_top": "T_bb's top eigenvalue",
    "LayerGap.t_bottom": "T_bb's bottom eigenvalue",
    "Metric.value": "the metric's value",
    "Metric.note": "how it was computed, and why there is no bound when there is none",
    "GateReport.passed": "every threshold passed (undecided ones too with --allow-undecided)",
    "GateReport.exit_code": "0 pass, 1 violated or undecided, 3 numerical failure",
    "GateReport.allow_undecided": "--allow-undecided was given",
    "GateReport.counts": "how many decisions of each verdict: pass, fail, undecided, error",
    "GateReport.decisions": "one decision per threshold",
    "GateReport.metrics": "every metric computed, by name (what a later --baseline reads)",
    "GateReport.baseline": "the --baseline report's path, or null",
    "Decision.metric": "the metric's name",
    "Decision.kind": "max | min",
    "Decision.limit": "the threshold (relative ones resolved against the baseline)",
    "Decision.value": "the metric's value (null on an error)",
    "Decision.error_bound": "its error bound (null: none)",
    "Decision.reason": "the comparison that decided it, in words",
    "Decision.source": "where the threshold came from, in words",
    "ParamsReport.model": "the checkpoint",
    "ParamsReport.pattern": "the --params regex, or null",
    "ParamsReport.num_tensors": "all the model's parameter tensors",
    "ParamsReport.num_params": "all the model's parameters",
    "ParamsReport.selected_tensors": "tensors in θ",
    "ParamsReport.selected_params": "parameters in θ",
    "ParamsReport.parameters": "every parameter of the model",
    "ParamEntry.shape": "the tensor's shape",
    "ParamEntry.numel": "its number of entries",
    "ParamEntry.selected": "θ holds it",
    "ParamEntry.requires_grad": "the model's own requires_grad",
    "BlockEntry.num_params": "the block's parameters",
    "num_tensors": "θ's tensors",
    "num_targets": "the terms of the dataset mean (N, or the counted targets)",
    "distributed": "world_size, backend, examples_per_rank under torchrun; null in one process",
    "stderr": "one standard error",
    "FisherCheck.max_relative_difference": "max_j ‖(F − G)v_j‖ / max_j ‖G v_j‖",
    "AdamReport.lr": "Adam's η",
    "AdamReport.beta1": "β₁ of the optimizer state",
    "AdamReport.beta2": "β₂ of the optimizer state",
    "AdamReport.eps": "Adam's ε",
    "AdamReport.step": "the optimizer's step count (for the bias correction of v̂)",
    "AdamReport.weight_decay": "the optimizer's weight decay",
    "AdamReport.fit": "how well √v̂ tracks |diag H|",
    "AdamReport.notes": "remarks on the figures, in words",
    "AdaptiveSharpness.rho": "ρ: the box |δ_i| ≤ ρ|θ_i|",
    "AdaptiveSharpness.chunk_size": "m: examples per batch",
    "AdaptiveSharpness.chunks": "batches the mean runs over",
    "AdaptiveSharpness.kkt_fraction": "share of the batches whose ascent ended at a KKT point",
    "AverageSharpness.rho": "ρ: δ ~ N(0, ρ² diag θ²)",
    "DiagonalFit.exact": "diag H is exact (samples ≥ p), not a Diag++ estimate",
    "EpsSharpness.ascent": "the projected ascent that found it",
    "EpsSharpness.epsilon": "ε: the box |δ_i| ≤ ε(|θ_i| + 1)",
    "EpsSharpness.increase": "max L(θ+δ) − L(θ) found (a lower bound of the max)",
    "LeftOut.share_high": "the interval's upper end",
    "SharpnessReport.metrics": "every figure by the name the gate uses: value, error_bound, note",
    "SharpnessReport.top": "the Hessian's top eigenvalues (--k), descending",
    "SharpnessReport.bottom": "the Hessian's bottom eigenvalue",
    "SharpnessReport.solver": "the eigen-solver's figures",
    "SharpnessReport.trace": "the Hutch++ trace",
    "SharpnessReport.stability": "gradient descent's (or SGD with momentum's) stability at η",
    "SharpnessReport.adam": "Adam's figures (null without an Adam optimizer state)",
    "SharpnessReport.eps_sharpness": "Keskar et al.'s ε-sharpness",
    "SharpnessReport.adaptive_sharpness": "the adaptive worst case (Andriushchenko et al.)",
    "SharpnessReport.average_sharpness": "the adaptive average case",
    "SharpnessReport.slices": "the loss along the top eigenvector and random directions",
    "SharpnessReport.settings": "the settings the figures were computed with",
    "SharpnessReport.gradient_evaluations": "loss-and-gradient evaluations of the ascents and "
    "the average case",
    "SharpnessSettings.k_top": "top eigenvalues solved for (--k)",
    "SharpnessSettings.k_bottom": "bottom eigenvalues solved for",
    "SharpnessSettings.tol": "the solver's tolerance (--tol)",
    "SharpnessSettings.max_products": "the solver's cap (--max-products; null: its default)",
    "SharpnessSettings.trace_samples": "Hutch++ products (--trace-samples)",
    "SharpnessSettings.lr": "η (--lr, the checkpoint's lr, or its optimizer's)",
    "SharpnessSettings.lr_source": "where η came from",
    "SharpnessSettings.nesterov": "Nesterov momentum (--nesterov)",
    "SharpnessSettings.eps_sharpness": "Keskar's ε (--eps-sharpness)",
    "SharpnessSettings.ascent_steps": "projected ascent iterations (--ascent-steps)",
    "SharpnessSettings.avg_samples": "± pairs of the average case (--avg-samples)",
    "SharpnessSettings.diag_samples": "products for diag H (Diag++)",
    "SharpnessSettings.slice_points": "points per slice (--slice-points)",
    "SharpnessSettings.slice_radius": "slices over t ∈ [−r, r] (--slice-radius)",
    "SharpnessSettings.slice_directions": "random directions sliced",
    "SharpnessSettings.seed": "the seed of every random choice (--seed)",
    "Stability.lr": "η",
    "Stability.lr_source": "where η came from (option, checkpoint metadata, optimizer state)",
    "Stability.margin_bound": "the margin's error bound: η·bound/limit",
    "Stability.verdict": "stable or unstable, in words",
    "Condition.lambda_min": "the smallest eigenvalue found (None: not computed)",
    "Direction.label": "how it is named in the report and the figure",
    "Direction.norm": "‖d‖",
    "Evaluation.points": "grid points evaluated",
    "Evaluation.note": "why this route was taken, in words",
    "Barrier.alpha": "the α where it is reached",
    "Endpoint.path": "the checkpoint",
    "Endpoint.accuracy": "its accuracy (null for a loss without classes)",
    "Endpoint.slope": "gᵀΔ at this end",
    "Endpoint.curvature": "ΔᵀHΔ at this end",
    "GridPoint.x": "s (or α)",
    "GridPoint.y": "t (null for --dims 1)",
    "InterpolationReport.alphas": "the α of each point, over --range",
    "InterpolationReport.accuracy": "the accuracy at each α (null for a loss without classes)",
    "InterpolationReport.loss": "L(θ(α)) at each α",
    "InterpolationReport.barrier": "the barrier over α ∈ [0, 1]",
    "InterpolationReport.taylor": "each end's second-order Taylor model along the segment",
    "InterpolationReport.endpoints": "A (α = 0) and B (α = 1)",
    "SurfaceReport.dims": "2: a plane, 1: a line",
    "SurfaceReport.x": "the grid's s values",
    "SurfaceReport.y": "the grid's t values (null for --dims 1)",
    "SurfaceReport.trust_region": "where the quadratic model holds within 10%",
    "SurfaceReport.minimum": "the grid's lowest point",
    "SurfaceReport.directions": "d₁ (and d₂)",
    "SurfaceReport.normalize": "filter | layer | none",
    "SurfaceReport.range": "[a, b] of the coordinates",
    "SurfaceReport.log": "the figure's loss axis is log₁₀",
    "SurfaceReport.evaluation": "how the grid's points were evaluated",
    "SurfaceReport.solver": "the eigen-solver's figures (--directions hessian; else null)",
    "Taylor.from_a": "A's model at each α",
    "Taylor.from_b": "B's model at each α",
    "TrustRegion.tolerance": "the share of |L| allowed (0.1)",
    "TrustRegion.inside": "inside[i][j]: the point is within the tolerance",
    "TrustRegion.radius": "every grid point closer to θ than this is inside",
    "TrustRegion.whole_grid": "every grid point is inside",
    "LossSlice.label": "the direction's name",
    "LossSlice.t": "the positions along the direction",
    "LossSlice.loss": "L at each t",
    "DirectionReport.passed": "the direction passed",
    "DirectionReport.reason": "why, in words",
    "DirectionReport.order_r1": "the verdict's order of R₁ (null: not measurable)",
    "DirectionReport.order_r2_hessian": "the verdict's order of R₂ᴴ (null: not measurable)",
    "DirectionReport.order_r2_ggn": "the measured order of R₂ᴳ (null: not measurable)",
    "DirectionReport.decomposition": "gᵀd, ½dᵀGd, ½dᵀTd and ½dᵀHd along d",
    "DirectionReport.checks": "one check per residual: r1, r2_hessian, r2_ggn",
    "DirectionReport.noise": "the noise of L along d (the round-off floor is floor_factor × it)",
    "DirectionReport.eigenvalue": "the eigenvalue of an eigenvector direction (else null)",
    "DirectionReport.eigenvalue_error_bound": "its certified bound",
    "DirectionReport.notes": "remarks, in words",
    "DirectionReport.steps": "one entry per step η, largest first",
    "OrderCheck.expected": "the order a right derivative gives",
    "OrderCheck.window_steps": "steps in the window",
    "OrderCheck.reason": "why, in words",
    "TaylorReport.machine_epsilon": "the working dtype's ε",
    "TaylorReport.thresholds": "r1, r2_hessian (the orders required), floor_factor, "
    "order_drift, trust_share",
    "TaylorReport.directions": "one report per direction",
    "TaylorReport.skipped": "directions left out, with why",
    "TaylorReport.hessian_products": "Hessian-vector products (dᵀHd per direction)",
    "TaylorReport.ggn_products": "GGN-vector products (dᵀGd per direction)",
    "TaylorReport.eigen_products": "products of the eigenvector directions' solves",
    "TaylorReport.loss_evaluations": "full-data loss evaluations",
    "TaylorStep.eta": "the step η",
    "TaylorStep.r0": "R₀ = |ΔL|",
    "TaylorStep.r1": "R₁ = |ΔL − gᵀs|",
    "TaylorStep.r2_hessian": "R₂ᴴ = |ΔL − gᵀs − ½η²dᵀHd|",
    "TaylorStep.r2_ggn": "R₂ᴳ = |ΔL − gᵀs − ½η²dᵀGd|",
    "TaylorStep.order_r1": "R₁'s observed order against the previous step",
    "TaylorStep.order_r2_hessian": "R₂ᴴ's observed order against the previous step",
    "TaylorStep.order_r2_ggn": "R₂ᴳ's observed order against the previous step",
    "TaylorStep.regime_r2_hessian": "R₂ᴴ's regime (as regime_r1)",
    "TaylorStep.regime_r2_ggn": "R₂ᴳ's regime (as regime_r1)",
    "BasisInfo.vectors": "the largest basis the budget allowed, in vectors (+ 1 residual row)",
    "BasisInfo.bytes": "its memory",
    "BasisInfo.budget": "the budget in bytes (--basis-memory, or a quarter of the free memory)",
    "BasisInfo.pinned": "page-locked host memory, for an operator on a GPU",
}


# -- the command line -----------------------------------------------------------------------


def _type_name(o) -> str:
    if o.choices:
        return " \\| ".join(f"`{c}`" for c in o.choices)
    if o.type is bool:
        return "flag"
    if o.type is list:
        return "repeatable"
    return {int: "integer", float: "number", str: "text", Path: "path"}.get(o.type, str(o.type))


def _default(o) -> str:
    if o.type is bool:
        return "off" if not o.default else "on"
    if o.default is None:
        return "—"
    value = o.default.value if isinstance(o.default, Enum) else o.default
    return f"`{value}`"


def _cell(text: str) -> str:
    """Text for a table cell: pipes and brackets escaped (`inside[i][j]` is no link)."""
    for c in "|[]":
        text = text.replace(c, "\\" + c)
    return text.replace("\n", " ")


def _commands() -> dict[str, object]:
    """The registered typer commands by name (the CLI's own registration)."""
    import landscape.cli  # noqa: F401 (registers the commands)
    from landscape.cli.app import app

    return {c.name: c for c in app.registered_commands}


def cli_page() -> str:
    from landscape.cli.options import COMMANDS, options_of

    registered = _commands()
    lines = [
        "# Command line reference",
        "",
        "<!-- generated by docs/gen_reference.py from landscape/cli/options.py: do not edit -->",
        "",
        "Every option of every command, from the one option table (`landscape/cli/options.py`)",
        "with the library's defaults (`landscape/api/defaults.py`). Every option can also be "
        "given in a",
        "config file under its name (dashes or underscores, see "
        "[config files](../tutorials/own-model.md#config-files)); the command line wins over",
        "the config, the config over the checkpoint's metadata, and that over these defaults.",
        "`landscape --help`, `landscape COMMAND --help` and `landscape --version` work everywhere;",
        "`landscape` alone runs `landscape spectrum` on the bundled sample.",
        "",
    ]
    for key in COMMANDS:
        name = key.replace("_", "-")
        cmd = registered[name]
        doc = inspect.getdoc(cmd.callback) or ""
        lines += [f"## `landscape {name}`", "", doc, ""]
        epilog = (cmd.epilog or "").replace("\b\n", "")
        if epilog:
            lines += ["```text", *[e.rstrip() for e in epilog.strip().splitlines()], "```", ""]
        lines += ["| option | type | default | meaning |", "| --- | --- | --- | --- |"]
        for o in options_of(key).values():
            shown = o.name.upper() if o.argument else o.flag
            if o.metavar and not o.argument:
                shown += f" {o.metavar}"
            lines.append(f"| `{shown}` | {_type_name(o)} | {_default(o)} | {_cell(o.help)} |")
        lines.append("")
    return "\n".join(lines)


# -- the JSON reports -------------------------------------------------------------------------


def _comments(cls: type) -> dict[str, str]:
    """Field name → the comment on its line, or the comment lines right above it."""
    notes: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        source = inspect.getsource(klass)
        comments: dict[int, str] = {}
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                comments[tok.start[0]] = tok.string.lstrip("#").strip()
        lines = source.splitlines()
        for number, line in enumerate(lines, start=1):
            m = re.match(r"^    (\w+)\s*:", line)
            if not m:
                continue
            text = comments.get(number, "")
            if text.startswith(("type:", "noqa", "fmt:")):
                text = ""
            above, k = [], number - 1
            while k >= 1 and lines[k - 1].strip().startswith("#"):
                above.insert(0, comments.get(k, ""))
                k -= 1
            text = text or " ".join(above)
            if text:
                notes[m.group(1)] = text
    return notes


def describe(cls: type, name: str) -> str:
    return (
        _comments(cls).get(name)
        or FIELD_NOTES.get(f"{cls.__name__}.{name}")
        or next(
            (
                FIELD_NOTES[f"{k.__name__}.{name}"]
                for k in cls.__mro__
                if f"{k.__name__}.{name}" in FIELD_NOTES
            ),
            None,
        )
        or FIELD_NOTES.get(name, "")
    )


def serialised_fields(cls: type) -> list[tuple[str, object]]:
    """(name, resolved type) of the fields `to_jsonable` writes, in order."""
    hints = typing.get_type_hints(cls, vars(importlib.import_module(cls.__module__)))
    return [(f.name, hints[f.name]) for f in dataclasses.fields(cls) if f.repr]


def _nested(tp) -> list[type]:
    """The dataclasses a field's type holds (through Optional, list, dict, tuple)."""
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return [tp]
    return [d for arg in typing.get_args(tp) for d in _nested(arg)]


def _json_type(tp) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        text = " \\| ".join(_json_type(a) for a in inner)
        return text + (" \\| null" if len(inner) < len(args) else "")
    if origin is list:
        return f"[{_json_type(args[0])}, …]" if args else "list"
    if origin is tuple:
        return "[" + ", ".join(_json_type(a) for a in args if a is not Ellipsis) + "]"
    if origin is dict:
        return f"{{str: {_json_type(args[1])}}}" if args else "object"
    if dataclasses.is_dataclass(tp):
        return f"[{tp.__name__}](#{anchor(tp)})"
    if tp is dict:
        return "object"
    name = getattr(tp, "__name__", str(tp))
    return {"float": "number", "int": "integer", "bool": "boolean", "str": "string",
            "Tensor": "array"}.get(name, name)  # fmt: skip


def anchor(cls: type) -> str:
    """The object's anchor on the page: its name, with its module's where names clash."""
    names = [c.__name__ for classes in reachable().values() for c in set(classes)]
    if (
        names.count(cls.__name__) > 1
        and len(
            {c for classes in reachable().values() for c in classes if c.__name__ == cls.__name__}
        )
        > 1
    ):
        return f"{cls.__module__.split('.')[2]}-{cls.__name__}".lower().replace("_", "-")
    return cls.__name__.lower()


@functools.cache
def reachable() -> dict[str, list[type]]:
    """Each command's report class and every dataclass reachable from it, in walk order."""
    out = {}
    for command, (module, name) in REPORTS.items():
        root = getattr(importlib.import_module(module), name)
        seen, todo = [], [root]
        while todo:
            cls = todo.pop(0)
            if cls in seen:
                continue
            seen.append(cls)
            for _, tp in serialised_fields(cls):
                todo += _nested(tp)
        out[command] = seen
    return out


def undocumented() -> list[str]:
    """`Class.field` for every serialised field with no description."""
    missing = []
    for classes in reachable().values():
        for cls in classes:
            for name, _ in serialised_fields(cls):
                if not describe(cls, name):
                    missing.append(f"{cls.__module__}.{cls.__name__}.{name}")
    return sorted(set(missing))


def _table(cls: type) -> list[str]:
    lines = ["| field | type | meaning |", "| --- | --- | --- |"]
    for name, tp in serialised_fields(cls):
        lines.append(f"| `{name}` | {_json_type(tp)} | {_cell(describe(cls, name))} |")
    return lines


def json_page() -> str:
    lines = [
        "# JSON report reference",
        "",
        "<!-- generated by docs/gen_reference.py from the report dataclasses: do not edit -->",
        "",
        "`--json` prints one report on stdout and `--out DIR` writes it to `DIR/report.json`; in",
        "Python, `report.to_dict()` gives the same document. The fields below are the report",
        "dataclasses' own, in the order they are written. Non-finite numbers are written as",
        "`null`. Under `torchrun` every report gets `distributed`: "
        '`{"world_size", "backend", "examples_per_rank"}`',
        "(null in one process).",
        "",
    ]
    walked = reachable()
    shared: list[type] = []
    for command, classes in walked.items():
        root = classes[0]
        lines += [f"## `{command}`", "", f"`{root.__module__}.{root.__name__}`", ""]
        lines += _table(root) + [""]
        shared += [c for c in classes[1:] if c not in shared]
    lines += ["## Objects", "", "The objects the reports above hold, each once.", ""]
    for cls in sorted(shared, key=lambda c: (c.__name__, c.__module__)):
        where = f" ({cls.__module__.split('.')[2]})" if anchor(cls) != cls.__name__.lower() else ""
        lines += [f'<a id="{anchor(cls)}"></a>', "", f"### {cls.__name__}{where}", ""]
        doc = cls.__doc__ or ""
        if doc and not doc.startswith(cls.__name__ + "("):
            lines += [inspect.cleandoc(doc), ""]
        lines += _table(cls) + [""]
    return "\n".join(lines)


def pages() -> dict[Path, str]:
    return {PAGES["cli"]: cli_page() + "\n", PAGES["json"]: json_page().rstrip() + "\n"}


def main(argv: list[str]) -> int:
    missing = undocumented()
    if missing:
        print("undocumented report fields (comment them or add FIELD_NOTES):", *missing, sep="\n")
        return 1
    stale = []
    for path, text in pages().items():
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path.relative_to(ROOT)))
        elif not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("out of date (run python docs/gen_reference.py):", *stale, sep="\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
