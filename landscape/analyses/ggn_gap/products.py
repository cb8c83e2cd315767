"""Products with the curvature operators: their ledger, blocked application, seeded probes
and the eigen-solve every part of the analysis shares."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from landscape.analyses.ggn_gap.settings import GgnGapSettings
from landscape.curvature import CurvatureOperator
from landscape.errors import NumericalError
from landscape.estimators.lanczos import extreme_eigenpairs
from landscape.estimators.results import EigenResult
from landscape.estimators.trace import rademacher
from landscape.problem import Problem

BLOCK = 64  # columns per matmat
PRODUCT_ORDER = ("hessian", "ggn", "fisher", "empirical_fisher", "mc_fisher")


class Ledger:
    """The autograd-backed operators and their product counts."""

    def __init__(self, progress: Callable[[str, int], None] | None):
        self.counts: dict[str, int] = {}
        self.ops: dict[str, CurvatureOperator] = {}
        self._progress = progress

    def add(self, key: str, op: CurvatureOperator) -> CurvatureOperator:
        self.ops[key] = op
        return op

    def retire(self, key: str) -> None:
        """Drop an operator (and its kept graphs), keeping its count."""
        op = self.ops.pop(key)
        self.counts[key] = self.counts.get(key, 0) + op.products

    def total(self) -> dict[str, int]:
        out = dict(self.counts)
        for key, op in self.ops.items():
            out[key] = out.get(key, 0) + op.products
        out = {key: out[key] for key in sorted(out, key=_product_order)}
        out["total"] = sum(out.values())
        return out

    def tell(self, stage: str) -> Callable[[int], None]:
        if self._progress is None:
            return lambda _n: None
        return lambda _n: self._progress(stage, self.total()["total"])


def _product_order(key: str) -> int:
    return PRODUCT_ORDER.index(key) if key in PRODUCT_ORDER else len(PRODUCT_ORDER)


def apply_blocked(op: CurvatureOperator, V: Tensor, block: int = BLOCK) -> Tensor:
    """A V through op.matmat, `block` columns at a time; non-finite products raise."""
    out = torch.cat([op.matmat(V[:, i : i + block]) for i in range(0, V.shape[1], block)], 1)
    if not torch.isfinite(out).all():
        raise NumericalError(
            f"the {op.name} operator returned non-finite products",
            "check the model and data for NaN/inf",
        )
    return out


def solve(
    op,
    k_top,
    k_bottom,
    settings: GgnGapSettings,
    progress=None,
    max_products=None,
    tol=None,
    multiplicity=False,
) -> EigenResult:
    """Lanczos extremes of op with the settings' tol, product cap and seed (unless given);
    `multiplicity`: the solver's locked re-solves, which find repeated copies."""
    return extreme_eigenpairs(
        op,
        k_top,
        k_bottom,
        tol=tol or settings.tol,
        max_products=max_products or settings.max_products,
        seed=settings.seed,
        progress=progress,
        basis_budget=settings.basis_budget,
        multiplicity_check=multiplicity,
    )


def probes(problem: Problem, settings: GgnGapSettings) -> Tensor:
    """The Rademacher probes shared by every Frobenius estimate (seeded)."""
    gen = generator(problem, settings.seed)
    return rademacher(problem.num_params, settings.probes, gen, problem.dtype, problem.device)


def generator(problem: Problem, seed: int) -> torch.Generator:
    return torch.Generator(device=problem.device).manual_seed(int(seed))
