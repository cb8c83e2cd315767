"""The gap of each diagonal parameter block H_bb − G_bb."""

from __future__ import annotations

from landscape.analyses.ggn_gap.parts import GapPart
from landscape.analyses.ggn_gap.products import Ledger, apply_blocked, generator
from landscape.analyses.ggn_gap.report import LayerGap
from landscape.analyses.ggn_gap.settings import GgnGapSettings
from landscape.analyses.ggn_gap.spectra import difference_eigenpairs
from landscape.curvature import BlockOperator, DifferenceOperator
from landscape.estimators.dense import dense_eigenpairs
from landscape.estimators.frobenius import frobenius_norm, relative_frobenius
from landscape.estimators.trace import rademacher
from landscape.problem import Block, Problem


def per_layer(
    problem: Problem, settings: GgnGapSettings, ledger: Ledger, H, G, part: GapPart
) -> list[LayerGap]:
    """The gap of each diagonal block H_bb − G_bb (off-diagonal blocks are not included)."""
    layers = []
    gen = generator(problem, settings.seed + 2)
    h_scale = part.eig.hessian.scale
    for block in problem.blocks():
        if part.dense is not None:
            gap, t = _exact_block(part, block)
        else:
            bh, bg = BlockOperator(H, block.slice), BlockOperator(G, block.slice)
            V = rademacher(block.size, settings.probes, gen, problem.dtype, problem.device)
            HV, GV = apply_blocked(bh, V), apply_blocked(bg, V)
            gap = relative_frobenius(HV - GV, HV, exact=False)
            t = difference_eigenpairs(
                DifferenceOperator(bh, bg, "t"),
                1,
                settings,
                h_scale,
                frobenius_norm(HV - GV, exact=False),
            )
        layers.append(LayerGap(block.name, block.size, gap, t.top[0], t.bottom[0]))
        ledger.tell("per layer")(0)
    return layers


def _exact_block(part: GapPart, block: Block):
    """The block's exact gap and T_bb's extreme eigenpairs from the dense H and G."""
    Hb, Gb = (M[block.slice, block.slice] for M in part.dense)
    return relative_frobenius(Hb - Gb, Hb, exact=True), dense_eigenpairs(Hb - Gb, 1, 1)
