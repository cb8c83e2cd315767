"""The gate's metrics by name, and what each one means: plain data, so that `landscape gate
--help` can list them without loading the analyses (or torch)."""

from __future__ import annotations

# The metrics, by the names the gate uses, and what each one means.
METRICS: dict[str, str] = {
    "loss": "L(θ), the mean loss over the examples",
    "lambda_max": "largest Hessian eigenvalue (Lanczos; bound: residual ‖Hv − λv‖)",
    "lambda_min": "smallest Hessian eigenvalue (Lanczos; bound: residual)",
    "trace": "tr H (Hutch++; bound: 3 standard errors)",
    "trace_per_param": "tr H / p (Hutch++; bound: 3 standard errors / p)",
    "stability_margin": "η·λ_max/limit (2 for GD, 2 + 2β with momentum β, (2 + 2β)/(1 + 2β) "
    "for Nesterov): stable on the local quadratic below 1",
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

TAYLOR = "taylor_order"  # from the taylor-check analysis
TAYLOR_NOTE = "smallest observed order of R₂ᴴ over the taylor-check directions (expected 3)"
