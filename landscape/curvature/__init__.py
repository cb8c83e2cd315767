"""Curvature operators: products of H, G, F and EF with flat vectors."""

from landscape.curvature.base import (
    AutogradOperator,
    BlockOperator,
    CurvatureOperator,
    DenseOperator,
    DifferenceOperator,
    ScaledOperator,
)
from landscape.curvature.hessian import HessianOperator
from landscape.curvature.output_space import (
    EmpiricalFisherOperator,
    FisherOperator,
    GGNOperator,
)
from landscape.errors import InputError
from landscape.problem import Problem

CURVATURES = ("hessian", "ggn", "fisher", "ef")

__all__ = [
    "AutogradOperator",
    "ScaledOperator",
    "BlockOperator",
    "CurvatureOperator",
    "DenseOperator",
    "DifferenceOperator",
    "EmpiricalFisherOperator",
    "FisherOperator",
    "GGNOperator",
    "HessianOperator",
    "CURVATURES",
    "make_operator",
]


def make_operator(
    curvature: str,
    problem: Problem,
    *,
    strategy: str = "auto",
    mc_samples: int | None = None,
    seed: int = 0,
) -> CurvatureOperator:
    """The operator for a curvature name: hessian, ggn, fisher or ef."""
    if curvature == "hessian":
        return HessianOperator(problem, strategy)
    if curvature == "ggn":
        return GGNOperator(problem, strategy)
    if curvature == "fisher":
        return FisherOperator(problem, mc_samples=mc_samples, seed=seed, strategy=strategy)
    if curvature in ("ef", "empirical-fisher"):
        return EmpiricalFisherOperator(problem, strategy)
    raise InputError(f"unknown curvature '{curvature}'", f"use one of: {', '.join(CURVATURES)}")
