"""Per-example losses and their output-space curvature (MATH.md, "through the logits").

Every loss is the mean over examples of ℓ(z_i, y_i) where z_i are the model's outputs for one
example, flattened to C numbers. Each loss knows
- its output Hessian H_L = ∇²_z ℓ in closed form (for the GGN),
- its Fisher F_R = E_{y∼p(·|z)}[s sᵀ] written as an expectation of scores over the model's own
  predictive distribution (a separate computation from H_L: the two agree for these canonical
  losses, and the tests check that they do),
- how to draw scores s with E[s sᵀ] = F_R (Monte-Carlo Fisher).
Scores are gradients of ℓ (not of the NLL), divided by √c where ℓ = c·NLL + const, so that F_R is
on the scale of H_L. `nll` takes log-probabilities: on them ℓ equals the cross-entropy of the
same numbers (logsumexp(log p) = 0), so it shares cross-entropy's curvature.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from landscape_cli.errors import InputError

# A residual within this tolerance (on the scale `Loss.residuals` puts it on) counts as fit.
FIT_TOLERANCE = 0.05


class Loss:
    name = "loss"

    def flat_outputs(self, z: Tensor) -> Tensor:
        return z.reshape(z.shape[0], -1)

    def check(self, z: Tensor, y: Tensor) -> None:
        """Raise InputError when targets do not fit outputs."""

    def per_example(self, z: Tensor, y: Tensor) -> Tensor:
        raise NotImplementedError

    def output_grad(self, z: Tensor, y: Tensor) -> Tensor:
        """∇_z ℓ_i for every example, shape (N, C)."""
        raise NotImplementedError

    def output_hessian_mv(self, z: Tensor, y: Tensor, U: Tensor) -> Tensor:
        """H_L U for U of shape (..., N, C)."""
        raise NotImplementedError

    def fisher_mv(self, z: Tensor, U: Tensor) -> Tensor:
        """F_R U, F_R = E_{y∼model}[s sᵀ], for U of shape (..., N, C)."""
        raise NotImplementedError

    def sample_scores(self, z: Tensor, num: int, generator: torch.Generator) -> Tensor:
        """Scores s of shape (num, N, C) with y drawn from the model, E[s sᵀ] = F_R."""
        raise NotImplementedError

    def empirical_mv(self, z: Tensor, y: Tensor, U: Tensor) -> Tensor:
        """g gᵀU/c with g = ∇_z ℓ at the data labels: the empirical Fisher's output matrix."""
        g = self.output_grad(z, y) / math.sqrt(self.nll_scale(z))
        return g * (g * U).sum(-1, keepdim=True)

    def nll_scale(self, z: Tensor) -> float:
        return 1.0

    def output_rank(self, num_outputs: int) -> int:
        """The largest rank of H_L for one example with `num_outputs` outputs."""
        return num_outputs

    def residuals(self, z: Tensor, y: Tensor, tol: float = FIT_TOLERANCE) -> tuple[Tensor, str]:
        """Per-output residuals of flat outputs z on a scale where `tol` means "fit", and
        the definition; here in target standard deviations (regression)."""
        y = y.reshape(z.shape).to(z.dtype)
        scale = float(y.std()) if y.numel() > 1 and float(y.std()) > 0 else 1.0
        definition = f"every output within {tol} target standard deviations of its target"
        return (z - y) / scale, definition

    def correct(self, z: Tensor, y: Tensor) -> float | None:
        """The share of examples predicted right (None where there is no right answer)."""
        return None


class CrossEntropy(Loss):
    """Softmax cross-entropy on logits; targets are class indices or class probabilities."""

    name = "cross-entropy"

    def output_rank(self, num_outputs: int) -> int:
        return num_outputs - 1  # softmax: H_L = diag(p) − ppᵀ annihilates the ones vector

    def check(self, z: Tensor, y: Tensor) -> None:
        if z.ndim != 2:
            raise InputError(
                f"{self.name} needs model outputs of shape (N, classes), got {tuple(z.shape)}",
                "use --loss mse or bce for other output shapes",
            )
        if y.dtype.is_floating_point:
            if y.shape != z.shape:
                raise InputError(
                    f"probability targets of shape {tuple(y.shape)} do not match outputs "
                    f"{tuple(z.shape)}",
                    "give integer class labels of shape (N,) or probabilities of shape (N, C)",
                )
            sums = y.sum(1)
            if len(y) and (float(y.min()) < 0 or float((sums - 1).abs().max()) > 1e-4):
                raise InputError(
                    f"{self.name} got float targets that are not class probabilities "
                    "(rows must be ≥ 0 and sum to 1)",
                    "for regression targets use --loss mse; for labels give integers",
                )
            return
        if y.ndim != 1:
            raise InputError(
                f"class labels must have shape (N,), got {tuple(y.shape)}",
                "give one integer label per example",
            )
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= z.shape[1]):
            raise InputError(
                f"labels range over [{int(y.min())}, {int(y.max())}] but the model has "
                f"{z.shape[1]} classes",
                "check that the data belong to this model (labels 0..C-1)",
            )

    def _targets(self, z: Tensor, y: Tensor) -> Tensor:
        return y if y.dtype.is_floating_point else F.one_hot(y, z.shape[1]).to(z.dtype)

    def per_example(self, z: Tensor, y: Tensor) -> Tensor:
        return -(self._targets(z, y) * torch.log_softmax(z, dim=1)).sum(1)

    def output_grad(self, z: Tensor, y: Tensor) -> Tensor:
        t = self._targets(z, y)
        return torch.softmax(z, dim=1) * t.sum(1, keepdim=True) - t

    def output_hessian_mv(self, z: Tensor, y: Tensor, U: Tensor) -> Tensor:
        p = torch.softmax(z, dim=1)
        if y.dtype.is_floating_point:
            p = p * y.sum(1, keepdim=True)
            q = torch.softmax(z, dim=1)
            return p * U - p * (q * U).sum(-1, keepdim=True)
        return p * U - p * (p * U).sum(-1, keepdim=True)

    def fisher_mv(self, z: Tensor, U: Tensor) -> Tensor:
        # E_k[s_k s_kᵀ U], s_k = p − e_k, with class k drawn with probability p_k.
        p = torch.softmax(z, dim=1)
        pu = (p * U).sum(-1, keepdim=True)  # pᵀU
        # s_kᵀU = pᵀU − U_k; Σ_k p_k (pᵀU − U_k)(p − e_k)
        coeff = pu - U  # (..., N, C): entry k is s_kᵀU
        return p * (p * coeff).sum(-1, keepdim=True) - p * coeff

    def sample_scores(self, z: Tensor, num: int, generator: torch.Generator) -> Tensor:
        p = torch.softmax(z, dim=1)
        draws = torch.multinomial(p.cpu().float(), num, replacement=True, generator=generator)
        onehot = F.one_hot(draws.T.to(z.device), z.shape[1]).to(z.dtype)  # (num, N, C)
        return p.unsqueeze(0) - onehot

    def residuals(self, z: Tensor, y: Tensor, tol: float = FIT_TOLERANCE) -> tuple[Tensor, str]:
        t = y if y.dtype.is_floating_point else F.one_hot(y, z.shape[1])
        return torch.softmax(z, 1) - t.to(z.dtype), (
            f"every class probability within {tol} of its target (p_y ≥ {1 - tol} for labels)"
        )

    def correct(self, z: Tensor, y: Tensor) -> float | None:
        labels = y.argmax(1) if y.dtype.is_floating_point else y
        return float((z.argmax(1) == labels).double().mean())


class NLL(CrossEntropy):
    """Negative log-likelihood on log-probabilities (outputs of log_softmax)."""

    name = "nll"

    def check(self, z: Tensor, y: Tensor) -> None:
        super().check(z, y)
        if len(z) and float(torch.logsumexp(z, dim=1).abs().max()) > 1e-4:
            raise InputError(
                "nll needs log-probabilities (each row's logsumexp is 0), and these outputs "
                "are not",
                "for logits use --loss cross-entropy, or end the model with log_softmax",
            )

    def per_example(self, z: Tensor, y: Tensor) -> Tensor:
        return -(self._targets(z, y) * z).sum(1)


class BCE(Loss):
    """Sigmoid binary cross-entropy on logits, mean over every output entry."""

    name = "bce"

    def check(self, z: Tensor, y: Tensor) -> None:
        if y.shape != z.shape:
            raise InputError(
                f"bce targets of shape {tuple(y.shape)} do not match outputs {tuple(z.shape)}",
                "give one target in [0, 1] per output entry",
            )
        if len(y) and (float(y.min()) < 0 or float(y.max()) > 1):
            raise InputError(
                "bce targets must lie in [0, 1]", "use --loss mse for unbounded targets"
            )

    def nll_scale(self, z: Tensor) -> float:
        return 1.0 / self.flat_outputs(z).shape[1]

    def per_example(self, z: Tensor, y: Tensor) -> Tensor:
        z, y = self.flat_outputs(z), self.flat_outputs(y).to(z.dtype)
        return F.binary_cross_entropy_with_logits(z, y, reduction="none").mean(1)

    def output_grad(self, z: Tensor, y: Tensor) -> Tensor:
        z, y = self.flat_outputs(z), self.flat_outputs(y).to(z.dtype)
        return (torch.sigmoid(z) - y) / z.shape[1]

    def output_hessian_mv(self, z: Tensor, y: Tensor, U: Tensor) -> Tensor:
        z = self.flat_outputs(z)
        p = torch.sigmoid(z)
        return p * (1 - p) * U / z.shape[1]

    def fisher_mv(self, z: Tensor, U: Tensor) -> Tensor:
        # Each output is Bernoulli(p): E[s²] = p(1−p)² + (1−p)p², scores on the loss scale.
        z = self.flat_outputs(z)
        p = torch.sigmoid(z)
        second_moment = p * (1 - p) ** 2 + (1 - p) * p**2
        return second_moment * U / z.shape[1]

    def sample_scores(self, z: Tensor, num: int, generator: torch.Generator) -> Tensor:
        z = self.flat_outputs(z)
        p = torch.sigmoid(z)
        u = torch.rand((num, *p.shape), generator=generator, dtype=p.dtype, device="cpu")
        y = (u.to(p.device) < p).to(p.dtype)
        return (p - y) / math.sqrt(z.shape[1])

    def residuals(self, z: Tensor, y: Tensor, tol: float = FIT_TOLERANCE) -> tuple[Tensor, str]:
        return torch.sigmoid(z) - y.reshape(z.shape).to(z.dtype), (
            f"every output probability within {tol} of its target"
        )

    def correct(self, z: Tensor, y: Tensor) -> float | None:
        right = (z > 0) == (y.reshape(z.shape) > 0.5)
        return float(right.all(dim=1).double().mean())


class MSE(Loss):
    """Mean squared error, mean over every output entry: ℓ = ‖z − y‖²/C, H_L = 2I/C.

    As a Gaussian NLL with variance C/2 (so that ℓ = NLL + const), the Fisher is 2I/C.
    """

    name = "mse"

    def check(self, z: Tensor, y: Tensor) -> None:
        if y.numel() != z.numel() or y.shape[0] != z.shape[0]:
            raise InputError(
                f"mse targets of shape {tuple(y.shape)} do not match outputs {tuple(z.shape)}",
                "give one target per output entry",
            )

    def per_example(self, z: Tensor, y: Tensor) -> Tensor:
        z, y = self.flat_outputs(z), self.flat_outputs(y).to(z.dtype)
        return ((z - y) ** 2).mean(1)

    def output_grad(self, z: Tensor, y: Tensor) -> Tensor:
        z, y = self.flat_outputs(z), self.flat_outputs(y).to(z.dtype)
        return 2 * (z - y) / z.shape[1]

    def output_hessian_mv(self, z: Tensor, y: Tensor, U: Tensor) -> Tensor:
        return 2 * U / self.flat_outputs(z).shape[1]

    def fisher_mv(self, z: Tensor, U: Tensor) -> Tensor:
        # Score of N(z, σ²I) with σ² = C/2 is (z − y)/σ²; its covariance is Cov(y)/σ⁴ = I/σ².
        C = self.flat_outputs(z).shape[1]
        variance = C / 2
        return U * variance / variance**2

    def sample_scores(self, z: Tensor, num: int, generator: torch.Generator) -> Tensor:
        z = self.flat_outputs(z)
        C = z.shape[1]
        noise = torch.randn((num, *z.shape), generator=generator, dtype=z.dtype, device="cpu")
        y = z.detach() + math.sqrt(C / 2) * noise.to(z.device)
        return 2 * (z - y) / C


LOSSES = {cls.name: cls for cls in (CrossEntropy, NLL, BCE, MSE)}


def _loss_key(name: str) -> str:
    key = name.lower().replace("_", "-")
    return {"ce": "cross-entropy", "crossentropy": "cross-entropy", "l2": "mse"}.get(key, key)


def is_loss_name(name: str) -> bool:
    return _loss_key(name) in LOSSES


def get_loss(name: str) -> Loss:
    key = _loss_key(name)
    if key not in LOSSES:
        raise InputError(f"unknown loss '{name}'", f"use one of: {', '.join(LOSSES)}")
    return LOSSES[key]()
