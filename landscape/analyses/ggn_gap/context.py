"""Why T is the size it is: the residuals g_z that weight it."""

from __future__ import annotations

from landscape.analyses.ggn_gap.report import FitContext
from landscape.losses import FIT_TOLERANCE
from landscape.problem import Problem


def fit_context(problem: Problem) -> FitContext:
    """Mean ‖g_z‖ and the share of examples already fit (see `Loss.residuals`)."""
    loss = problem.loss
    z, y = problem.all_outputs()
    gz = loss.output_grad(z, y)
    r, definition = loss.residuals(z, y, FIT_TOLERANCE)
    fit = float((r.abs().amax(dim=1) <= FIT_TOLERANCE).double().mean())
    return FitContext(
        loss=problem.loss_at(),
        mean_output_grad_norm=float(gz.double().norm(dim=1).mean()),
        fit_share=fit,
        fit_definition=definition,
        correct_share=loss.correct(z, y),
    )
