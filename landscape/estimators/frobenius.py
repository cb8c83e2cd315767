"""Frobenius norms from products with probe columns: E‖Av‖² = ‖A‖_F² for Rademacher v."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from landscape.estimators.results import Estimate


def relative_frobenius(diff_cols: Tensor, ref_cols: Tensor, exact: bool) -> Estimate:
    """‖A − B‖_F/‖B‖_F from (A − B)V and BV.

    With Rademacher columns v_j, E‖Av‖² = ‖A‖_F²: the ratio of the means of a_j = ‖(A−B)v_j‖²
    and b_j = ‖Bv_j‖² estimates the squared ratio; its standard error follows from the delta
    method with the sample (co)variances of the pairs (a_j, b_j). With `exact` the columns are
    the whole matrices (V = I) and the stderr is 0.
    """
    a = diff_cols.double().pow(2).sum(0)
    b = ref_cols.double().pow(2).sum(0)
    abar, bbar = float(a.mean()), float(b.mean())
    if bbar <= 0:
        return Estimate(0.0 if abar == 0 else math.inf, 0.0)
    ratio2 = abar / bbar
    if exact or len(a) < 2:
        return Estimate(math.sqrt(ratio2), 0.0)
    cov = torch.cov(torch.stack([a, b]))
    var2 = (
        cov[0, 0] / bbar**2 - 2 * cov[0, 1] * abar / bbar**3 + cov[1, 1] * abar**2 / bbar**4
    ) / len(a)
    se2 = math.sqrt(max(float(var2), 0.0))
    value = math.sqrt(ratio2)
    return Estimate(value, se2 / (2 * value) if value > 0 else 0.0)


def frobenius_norm(cols: Tensor, exact: bool) -> float:
    """‖A‖_F from AV: exact (V = I) or the probe estimate sqrt(mean ‖Av_j‖²)."""
    squares = cols.double().pow(2).sum(0)
    return math.sqrt(float(squares.sum() if exact else squares.mean()))
