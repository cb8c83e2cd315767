"""Curvature matrices of the form E[Jᵀ M J]: the GGN, the Fisher and the empirical Fisher.

J = ∂z/∂θ is the Jacobian of the model outputs; M is a C×C matrix per example chosen by the
subclass (H_L, F_R, a Monte-Carlo F_R, or g gᵀ at the data labels). A product is
- Jv: a Jacobian-vector product, by the double-vjp trick through a kept graph
  (u ↦ Jᵀu is linear in u, so ∂⟨Jᵀu, v⟩/∂u = Jv),
- multiplication by M per example (closed forms in losses.py),
- Jᵀw: one backward pass.
With "kept-graph" the output and Jᵀu graphs of all batches are built once; with
"double-backward" they are rebuilt batch by batch for each product.
"""

from __future__ import annotations

import torch
from torch import Tensor

from landscape_cli.curvature.base import CurvatureOperator
from landscape_cli.curvature.hessian import backward_block
from landscape_cli.curvature.memory import choose_kept_graph
from landscape_cli.errors import InputError
from landscape_cli.problem import Problem, flatten


class OutputSpaceOperator(CurvatureOperator):
    psd = True

    def __init__(self, problem: Problem, strategy: str = "auto"):
        super().__init__(problem.num_params, problem.dtype, problem.device)
        self.problem = problem
        if strategy in ("auto", "forward-over-reverse"):
            keep = choose_kept_graph(problem, lambda leaves, b: self._chunk(leaves, [b]))
            strategy = "kept-graph" if keep else "double-backward"
        if strategy not in ("kept-graph", "double-backward"):
            raise InputError(f"unknown product strategy '{strategy}'", "use auto")
        self.strategy = strategy
        self._offsets = [0]
        for x, _ in problem.batches:
            self._offsets.append(self._offsets[-1] + len(x))
        self._kept = (
            self._chunk(problem.leaves(), problem.batches) if strategy == "kept-graph" else None
        )

    def output_mv(self, z: Tensor, y: Tensor, U: Tensor, rows: slice) -> Tensor:
        """M U for the examples `rows` of the data set; U has shape (b, n, C)."""
        raise NotImplementedError

    def _chunk(self, leaves: list[Tensor], batches):
        """Outputs z (n, C) of `batches` with their graph, and the Jᵀu graph for Jv products."""
        z = torch.cat(
            [self.problem.loss.flat_outputs(self.problem.outputs(leaves, x)) for x, _ in batches]
        )
        y = torch.cat([y for _, y in batches])
        u = torch.zeros_like(z, requires_grad=True)
        jtu = torch.autograd.grad(z, leaves, u, create_graph=True, allow_unused=True)
        if all(t is None for t in jtu):
            raise InputError(
                "the model outputs do not depend on the selected parameters", "check --params"
            )
        jtu = flatten([torch.zeros_like(p) if t is None else t for t, p in zip(jtu, leaves)])
        return leaves, z, y, u, jtu

    def _apply(self, chunk, V: Tensor, rows: slice, retain: bool) -> Tensor:
        leaves, z, y, u, jtu = chunk
        b = V.shape[1]
        if b == 1:
            Jv = torch.autograd.grad(jtu, u, V[:, 0], retain_graph=True)[0].unsqueeze(0)
        else:
            Jv = torch.autograd.grad(
                jtu, u, V.T.contiguous(), retain_graph=True, is_grads_batched=True
            )[0]
        W = self.output_mv(z.detach(), y, Jv, rows) / self.problem.num_samples
        return backward_block(z.reshape(-1), leaves, W.reshape(b, -1).T, retain=retain)

    def _matmat(self, V: Tensor) -> Tensor:
        if self._kept is not None:
            return self._apply(self._kept, V, slice(0, self.problem.num_samples), True)
        parts = iter(range(len(self.problem.batches)))

        def part(batch):
            i = next(parts)
            chunk = self._chunk(self.problem.leaves(), [batch])
            return self._apply(chunk, V, slice(self._offsets[i], self._offsets[i + 1]), False)

        return self.problem.batch_sum(part)

    def output_space_z(self) -> Tensor:
        """All outputs z (N, C) at θ, without graph."""
        with torch.no_grad():
            return torch.cat(
                [
                    self.problem.loss.flat_outputs(self.problem.outputs(self.problem.params, x))
                    for x, _ in self.problem.batches
                ]
            )


class GGNOperator(OutputSpaceOperator):
    """Generalized Gauss-Newton G = E[Jᵀ H_L J] with the closed-form output Hessians."""

    name = "ggn"

    def output_mv(self, z, y, U, rows):
        return self.problem.loss.output_hessian_mv(z, y, U)


class FisherOperator(OutputSpaceOperator):
    """Fisher F = E[Jᵀ F_R J]: exact (expectation over the model's predictive distribution) or
    Monte-Carlo with `mc_samples` labels per example drawn once with `seed`, so every product
    uses the same matrix."""

    name = "fisher"

    def __init__(
        self, problem: Problem, mc_samples: int | None = None, seed: int = 0, strategy: str = "auto"
    ):
        super().__init__(problem, strategy)
        self.mc_samples = mc_samples
        self.scores = None
        if mc_samples is not None:
            if mc_samples < 1:
                raise InputError(
                    f"--mc-samples must be at least 1, got {mc_samples}",
                    "use e.g. --mc-samples 16, or leave it out for the exact Fisher",
                )
            generator = torch.Generator().manual_seed(seed)
            self.scores = problem.loss.sample_scores(self.output_space_z(), mc_samples, generator)

    def output_mv(self, z, y, U, rows):
        if self.scores is None:
            return self.problem.loss.fisher_mv(z, U)
        s = self.scores[:, rows]  # (S, n, C)
        coeff = torch.einsum("snc,bnc->bsn", s, U)
        return torch.einsum("bsn,snc->bnc", coeff, s) / s.shape[0]


class EmpiricalFisherOperator(OutputSpaceOperator):
    """Empirical Fisher (1/N)Σ g_i g_iᵀ from the data labels (on the loss scale of F)."""

    name = "ef"

    def output_mv(self, z, y, U, rows):
        return self.problem.loss.empirical_mv(z, y, U)
