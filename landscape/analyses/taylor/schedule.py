"""The default steps of taylor-check, chosen per direction from what the loss shows.

No fixed sweep suits every direction: R₂ᴴ ≈ |c|η³ leaves the round-off floor at η ≈ 1e-5 along
a sharp direction, at 1e-2 along a flat random one, and a float32 floor sits 5·10⁸ times higher
than a float64 one. So the steps are found per direction, on the lattice η = 1e-3·2^(k/2):
1. a probe walks in factors of 4, down from 1e-3 until R₁ and R₂ᴴ are at the round-off floor
   (FLOOR_FACTOR × the measured noise of ΔL), and up until R₂ᴴ's order leaves 3 by more than
   TOP_DRIFT (higher orders take over), the step crosses a kink where a residual is above the
   floor, the loss is not finite, or η reaches the lattice's top;
2. where R₂ᴴ (else R₁, when it has few steps) is above the floor and no kink is crossed, the
   probe's gaps are halved, from one step under the floor's edge to the top, plus one step
   just under the nearest kink; where R₂ᴴ's window still has fewer than FEW steps they are
   halved once more (factors of √2).
The windows and verdicts (steps.py, verdicts.py) then read the rows as for a given sweep.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from landscape.analyses.taylor.steps import Residuals, find_window, measurable, observed_order

LATTICE = 1e-3  # η = LATTICE·2^(k/2)
PROBE = 4  # lattice exponents per probe step: factors of 4
LOWEST, HIGHEST = -80, 36  # η from 9e-16 to 262 (a flat random direction of a large model)
FEW = 4  # an R₂ᴴ window of fewer steps: halve the gaps once more (factors of √2)
TOP_DRIFT = 0.5  # the probe stops going up once R₂ᴴ's order is this far from 3


def auto_rows(row_at: Callable[[float], Residuals]) -> list[Residuals]:
    """The rows of the chosen steps, largest η first; `row_at(η)` measures one step."""
    rows: dict[int, Residuals] = {}

    def at(k: int) -> Residuals:
        if k not in rows:
            rows[k] = row_at(LATTICE * 2.0 ** (k / 2))
        return rows[k]

    k = 0
    while k - PROBE >= LOWEST and not _at_floor(at(k)):
        k -= PROBE
    k = 0
    while k + PROBE <= HIGHEST and not _top(rows, k):
        k += PROBE
        at(k)
    rows = {j: r for j, r in rows.items() if math.isfinite(r.delta_loss)}
    for gap in (PROBE, PROBE // 2):
        for j in _refined(rows, gap):
            at(j)
    return [rows[j] for j in sorted(rows, reverse=True)]


def _at_floor(row: Residuals) -> bool:
    return not measurable(row, "r1") and not measurable(row, "r2_hessian")


def _top(rows: dict[int, Residuals], k: int) -> bool:
    """Stop going up: this step is not finite, crosses a kink where a residual is above the
    floor, or R₂ᴴ's order has left 3."""
    row = rows[k]
    if not math.isfinite(row.delta_loss):
        return True
    if row.kinks and not _at_floor(row):
        return True
    below = rows.get(k - PROBE)
    if below is None or not (measurable(row, "r2_hessian") and measurable(below, "r2_hessian")):
        return False
    order = observed_order(row, below, "r2_hessian")
    return order is None or abs(order - 3.0) > TOP_DRIFT


def _refined(rows: dict[int, Residuals], gap: int) -> list[int]:
    """Lattice points halving the gaps `gap` where a window can lie (see the module doc);
    the second pass (gap PROBE/2) only where R₂ᴴ's window still has fewer than FEW steps."""
    smooth = [j for j, r in rows.items() if not r.kinks]
    above = [j for j in smooth if measurable(rows[j], "r2_hessian")]
    if gap < PROBE and len(find_window([rows[j] for j in sorted(rows)], "r2_hessian")) >= FEW:
        return []
    if not above:  # R₂ᴴ at the floor everywhere: R₁ gets the halvings where it has few steps
        above = [j for j in smooth if measurable(rows[j], "r1")]
        above = above if len(above) < FEW else []
    half = gap // 2
    extra = set(range(min(above) - half, max(above), gap)) if above else set()
    kinked = [j for j, r in rows.items() if r.kinks]
    if kinked and smooth:
        extra.add(min(kinked) - half)
    return sorted(j for j in extra if LOWEST <= j <= HIGHEST and j not in rows)
