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

from landscape.curvature.base import AutogradOperator
from landscape.curvature.hessian import backward_block
from landscape.errors import InputError
from landscape.problem import Batch, Problem, flatten


class OutputSpaceOperator(AutogradOperator):
    psd = True

    def __init__(self, problem: Problem, strategy: str = "auto"):
        if strategy == "forward-over-reverse":  # no such route here: the cheapest instead
            strategy = "auto"
        super().__init__(problem, strategy)

    def output_mv(self, z: Tensor, y: Tensor, U: Tensor, rows: slice) -> Tensor:
        """M U for the examples `rows` of the data set; U has shape (b, n, C)."""
        raise NotImplementedError

    def rank_bound(self) -> int:
        """rank Jᵀ M J ≤ Σ_i rank M_i: here Σ_i rank H_L(z_i) over the counted targets."""
        loss = self.problem.loss
        return int(self.problem.output_sum(lambda z, y: torch.tensor(float(loss.rank(z, y)))))

    def batch_graph(self, leaves: list[Tensor], batch: Batch):
        """Outputs z (n, C) of the batch with their graph, and the Jᵀu graph for Jv products."""
        z = self.problem.loss.flat_outputs(self.problem.outputs(leaves, batch.x))
        u = torch.zeros_like(z, requires_grad=True)
        jtu = torch.autograd.grad(z, leaves, u, create_graph=True, allow_unused=True)
        if all(t is None for t in jtu):
            raise InputError(
                "the model outputs do not depend on the selected parameters",
                "select parameters the outputs depend on",
            )
        jtu = flatten([torch.zeros_like(p) if t is None else t for t, p in zip(jtu, leaves)])
        return leaves, z, u, jtu

    def batch_product(self, graph, V: Tensor, batch: Batch, retain: bool) -> Tensor:
        leaves, z, u, jtu = graph
        b = V.shape[1]
        if b == 1:
            Jv = torch.autograd.grad(jtu, u, V[:, 0], retain_graph=True)[0].unsqueeze(0)
        else:
            Jv = torch.autograd.grad(
                jtu, u, V.T.contiguous(), retain_graph=True, is_grads_batched=True
            )[0]
        W = self.output_mv(z.detach(), batch.y, Jv, batch.rows) / self.problem.num_targets
        return backward_block(z.reshape(-1), leaves, W.reshape(b, -1).T, retain=retain)


class GGNOperator(OutputSpaceOperator):
    """Generalized Gauss-Newton G = E[Jᵀ H_L J] with the closed-form output Hessians."""

    name = "ggn"

    def output_mv(self, z, y, U, rows):
        return self.problem.loss.output_hessian_mv(z, y, U)


class FisherOperator(OutputSpaceOperator):
    """Fisher F = E[Jᵀ F_R J]: exact (expectation over the model's predictive distribution) or
    Monte-Carlo with `mc_samples` labels per example drawn once with `seed`, so every product
    uses the same matrix. Under torchrun the labels of all N examples are drawn on every
    process (the one-process draw) and each keeps its shard's."""

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
                    f"mc_samples must be at least 1, got {mc_samples}",
                    "use e.g. 16 sampled labels, or None for the exact Fisher",
                )
            generator = torch.Generator().manual_seed(seed)
            z, y = problem.all_outputs()  # all N examples, on every process under torchrun
            scores = problem.loss.sample_scores(z, y, mc_samples, generator)
            self.scores = scores if problem.shard is None else scores[:, problem.shard].clone()

    def rank_bound(self) -> int:
        exact = super().rank_bound()  # F_R has the rank of H_L for these losses
        if self.mc_samples is None:
            return exact
        return min(exact, self.mc_samples * self.problem.num_samples)  # a rank-1 term per draw

    def output_mv(self, z, y, U, rows):
        if self.scores is None:
            return self.problem.loss.fisher_mv(z, y, U)
        s = self.scores[:, rows]  # (S, n, C)
        coeff = torch.einsum("snc,bnc->bsn", s, U)
        return torch.einsum("bsn,snc->bnc", coeff, s) / s.shape[0]


class EmpiricalFisherOperator(OutputSpaceOperator):
    """Empirical Fisher (1/N)Σ g_i g_iᵀ from the data labels (on the loss scale of F)."""

    name = "ef"

    def rank_bound(self) -> int:
        return self.problem.num_samples  # one rank-1 term g_i g_iᵀ per example

    def output_mv(self, z, y, U, rows):
        return self.problem.loss.empirical_mv(z, y, U)
