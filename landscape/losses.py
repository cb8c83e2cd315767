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

from landscape.errors import InputError

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

    def fisher_mv(self, z: Tensor, y: Tensor, U: Tensor) -> Tensor:
        """F_R U, F_R = E_{y∼model}[s sᵀ], for U of shape (..., N, C) (y: which targets count)."""
        raise NotImplementedError

    def sample_scores(self, z: Tensor, y: Tensor, num: int, generator: torch.Generator) -> Tensor:
        """Scores s of shape (num, N, C) with y drawn from the model, E[s sᵀ] = F_R."""
        raise NotImplementedError

    def count(self, y: Tensor) -> int:
        """How many terms of the dataset mean these targets hold: one per example."""
        return len(y)

    def empirical_mv(self, z: Tensor, y: Tensor, U: Tensor) -> Tensor:
        """g gᵀU/c with g = ∇_z ℓ at the data labels: the empirical Fisher's output matrix."""
        g = self.output_grad(z, y) / math.sqrt(self.nll_scale(z))
        return g * (g * U).sum(-1, keepdim=True)

    def nll_scale(self, z: Tensor) -> float:
        return 1.0

    def rank(self, z: Tensor, y: Tensor) -> int:
        """An upper bound on Σ_i rank H_L(z_i) over these examples (flat outputs z)."""
        return self.flat_outputs(z).numel()

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
    """Softmax cross-entropy on logits, with targets that are class indices or probabilities.

    Outputs may carry positions: (N, ..., C) with integer targets (N, ...), the class dimension
    last (a language model's layout), or PyTorch's (N, C, d₁, ...) where the shapes say so. Each
    position is a term of the dataset mean, except targets equal to `ignore_index`, which count
    for nothing; an example's loss ℓ_i is the sum over its counted positions, and the dataset
    loss divides by the number of counted targets (`Problem.num_targets`). Flat outputs put the
    class dimension last: (N, positions·C).

    With `shift` (a causal language model's labels in Hugging Face's convention, `labels =
    input_ids`), integer labels (N, T) are shifted by one position: the outputs at position t
    are scored against the label at t + 1, and the last position counts for nothing, as
    `logits[:, :-1]` against `labels[:, 1:]`. Every method sees the shifted labels, so the loss,
    its gradient and every curvature (and the output-space operators' weights) agree.
    """

    name = "cross-entropy"

    def __init__(self, ignore_index: int = -100, class_dim: int | None = None):
        self.ignore_index = ignore_index
        self.class_dim = class_dim  # -1 (last) or 1; None: decided by the first batch's shapes
        self.classes: int | None = None
        self.shift = False  # score position t against the label at t + 1 (`labels`)

    def labels(self, y: Tensor) -> Tensor:
        """The labels as scored: y itself, or with `shift` y[:, t + 1] at t and the ignored
        index at the last position."""
        if not self.shift or y.dtype.is_floating_point:
            return y
        tail = torch.full_like(y[:, :1], self.ignore_index)
        return torch.cat([y[:, 1:], tail], dim=1)

    # -- layout ---------------------------------------------------------------------------
    def check(self, z: Tensor, y: Tensor) -> None:
        if y.dtype.is_floating_point:
            self._check_probabilities(z, y)
            self.class_dim, self.classes = -1, z.shape[-1]
            return
        dim = self._class_dim(z, y)
        self.class_dim, self.classes = dim, z.shape[dim]
        counted = y[y != self.ignore_index]
        if counted.numel() and (int(counted.min()) < 0 or int(counted.max()) >= self.classes):
            raise InputError(
                f"labels range over [{int(counted.min())}, {int(counted.max())}] but the model "
                f"has {self.classes} classes",
                "check that the data belong to this model (labels 0..C-1, or the ignored "
                f"index {self.ignore_index})",
            )

    def _class_dim(self, z: Tensor, y: Tensor) -> int:
        last = z.ndim >= 2 and tuple(y.shape) == tuple(z.shape[:-1])
        first = z.ndim >= 3 and tuple(y.shape) == (z.shape[0], *z.shape[2:])
        wanted = {-1: last, 1: first}
        if self.class_dim is not None:
            if not wanted.get(self.class_dim, False):
                raise InputError(
                    f"labels of shape {tuple(y.shape)} do not fit outputs {tuple(z.shape)} with "
                    f"the classes along dimension {self.class_dim}",
                    "give labels with the outputs' shape less the class dimension",
                )
            return self.class_dim
        if last and first:
            raise InputError(
                f"outputs {tuple(z.shape)} with labels {tuple(y.shape)} could hold the classes "
                "along dimension 1 or along the last",
                "say which with `class_dim` 1 or `class_dim` -1",
                "class_dim",
            )
        if not (last or first):
            raise InputError(
                f"{self.name} needs labels of the outputs' shape less the class dimension: "
                f"outputs {tuple(z.shape)}, labels {tuple(y.shape)}",
                "give outputs (N, ..., C) with integer labels (N, ...), or (N, C, ...)",
            )
        return -1 if last else 1

    def _check_probabilities(self, z: Tensor, y: Tensor) -> None:
        if z.ndim != 2 or y.shape != z.shape:
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
                "for regression targets use `loss`=mse; for labels give integers",
                "loss",
            )

    def _rows(self, z: Tensor) -> Tensor:
        """Outputs as (n, positions, C); native (n, C, d…) outputs get their classes last."""
        if z.ndim >= 3 and self.class_dim == 1:
            z = z.movedim(1, -1)
        classes = self.classes or z.shape[-1]
        return z.reshape(z.shape[0], -1, classes)

    def flat_outputs(self, z: Tensor) -> Tensor:
        return self._rows(z).reshape(z.shape[0], -1)

    def _targets(self, z: Tensor, y: Tensor) -> Tensor:
        """Targets as (n, positions, C): one-hot rows, zero at ignored positions."""
        rows = self._rows(z)
        if y.dtype.is_floating_point:
            return y.reshape(rows.shape).to(rows.dtype)
        labels = self.labels(y).reshape(rows.shape[:2])
        keep = labels != self.ignore_index
        onehot = F.one_hot(labels.clamp_min(0) * keep, rows.shape[-1]).to(rows.dtype)
        return onehot * keep.unsqueeze(-1).to(rows.dtype)

    def _log_probs(self, rows: Tensor) -> Tensor:
        return torch.log_softmax(rows, dim=-1)

    def count(self, y: Tensor) -> int:
        if y.dtype.is_floating_point:
            return len(y)
        return int((self.labels(y) != self.ignore_index).sum())

    # -- loss and curvature ---------------------------------------------------------------
    def per_example(self, z: Tensor, y: Tensor) -> Tensor:
        return -(self._targets(z, y) * self._log_probs(self._rows(z))).sum((1, 2))

    def output_grad(self, z: Tensor, y: Tensor) -> Tensor:
        t = self._targets(z, y)
        g = torch.softmax(self._rows(z), dim=-1) * t.sum(-1, keepdim=True) - t
        return g.reshape(g.shape[0], -1)

    def _weights(self, z: Tensor, y: Tensor) -> Tensor:
        """Each position's weight (n, positions, 1): 1 or 0 for labels, Σ targets otherwise
        (no one-hot: this runs in every product)."""
        n, positions, _ = self._rows(z).shape
        if y.dtype.is_floating_point:
            return y.reshape(n, positions, -1).to(z.dtype).sum(-1, keepdim=True)
        labels = self.labels(y).reshape(n, positions)
        return (labels != self.ignore_index).unsqueeze(-1).to(z.dtype)

    def _apply(self, z: Tensor, U: Tensor, fn) -> Tensor:
        """fn(p, U) position by position, U (..., n, positions·C) seen as (..., n, positions, C)."""
        p = torch.softmax(self._rows(z), dim=-1)
        shaped = U.reshape(*U.shape[:-1], p.shape[1], p.shape[2])
        return fn(p, shaped).reshape(U.shape)

    def output_hessian_mv(self, z: Tensor, y: Tensor, U: Tensor) -> Tensor:
        w = self._weights(z, y)
        return self._apply(z, U, lambda p, V: w * (p * V - p * (p * V).sum(-1, keepdim=True)))

    def fisher_mv(self, z: Tensor, y: Tensor, U: Tensor) -> Tensor:
        # E_k[s_k s_kᵀ U], s_k = p − e_k, with class k drawn with probability p_k:
        # s_kᵀU = pᵀU − U_k, and Σ_k p_k (pᵀU − U_k)(p − e_k), at the positions that count.
        w = self._weights(z, y)

        def expectation(p, V):
            coeff = (p * V).sum(-1, keepdim=True) - V
            return w * (p * (p * coeff).sum(-1, keepdim=True) - p * coeff)

        return self._apply(z, U, expectation)

    def sample_scores(self, z: Tensor, y: Tensor, num: int, generator: torch.Generator) -> Tensor:
        p = torch.softmax(self._rows(z), dim=-1)  # (n, positions, C)
        n, positions, classes = p.shape
        flat = p.reshape(-1, classes).cpu().float()
        draws = torch.multinomial(flat, num, replacement=True, generator=generator)
        onehot = F.one_hot(draws.T.to(z.device), classes).to(p.dtype)  # (num, n·positions, C)
        scores = (p.reshape(1, -1, classes) - onehot) * self._weights(z, y).reshape(1, -1, 1)
        return scores.reshape(num, n, positions * classes)

    def rank(self, z: Tensor, y: Tensor) -> int:
        # softmax: H_L = diag(p) − ppᵀ annihilates the ones vector at each counted position
        return self.count(y) * (self._rows(z).shape[-1] - 1)

    # -- context --------------------------------------------------------------------------
    def residuals(self, z: Tensor, y: Tensor, tol: float = FIT_TOLERANCE) -> tuple[Tensor, str]:
        t = self._targets(z, y)
        keep = (t.sum(-1, keepdim=True) > 0).to(t.dtype)
        r = (torch.softmax(self._rows(z), -1) - t) * keep
        return r.reshape(r.shape[0], -1), (
            f"every class probability within {tol} of its target (p_y ≥ {1 - tol} for labels)"
        )

    def correct(self, z: Tensor, y: Tensor) -> float | None:
        """The share of counted targets predicted right (of examples without positions)."""
        t = self._targets(z, y)
        keep = t.sum(-1) > 0
        right = (self._rows(z).argmax(-1) == t.argmax(-1)) & keep
        return float(right.sum().double() / keep.sum().clamp(min=1).double())


class NLL(CrossEntropy):
    """Negative log-likelihood on log-probabilities (outputs of log_softmax)."""

    name = "nll"

    def check(self, z: Tensor, y: Tensor) -> None:
        super().check(z, y)
        rows = self._rows(z)
        if rows.numel() and float(torch.logsumexp(rows, dim=-1).abs().max()) > 1e-4:
            raise InputError(
                "nll needs log-probabilities (each row's logsumexp is 0), and these outputs "
                "are not",
                "for logits use `loss`=cross-entropy, or end the model with log_softmax",
                "loss",
            )

    def _log_probs(self, rows: Tensor) -> Tensor:
        return rows


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
                "bce targets must lie in [0, 1]", "use `loss`=mse for unbounded targets", "loss"
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

    def fisher_mv(self, z: Tensor, y: Tensor, U: Tensor) -> Tensor:
        # Each output is Bernoulli(p): E[s²] = p(1−p)² + (1−p)p², scores on the loss scale.
        z = self.flat_outputs(z)
        p = torch.sigmoid(z)
        second_moment = p * (1 - p) ** 2 + (1 - p) * p**2
        return second_moment * U / z.shape[1]

    def sample_scores(self, z: Tensor, y: Tensor, num: int, generator: torch.Generator) -> Tensor:
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

    def fisher_mv(self, z: Tensor, y: Tensor, U: Tensor) -> Tensor:
        # Score of N(z, σ²I) with σ² = C/2 is (z − y)/σ²; its covariance is Cov(y)/σ⁴ = I/σ².
        C = self.flat_outputs(z).shape[1]
        variance = C / 2
        return U * variance / variance**2

    def sample_scores(self, z: Tensor, y: Tensor, num: int, generator: torch.Generator) -> Tensor:
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


def get_loss(name: str, ignore_index: int = -100, class_dim: int | None = None) -> Loss:
    """The loss named `name`; `ignore_index` and `class_dim` configure the cross-entropies."""
    key = _loss_key(name)
    if key not in LOSSES:
        raise InputError(f"unknown loss '{name}'", f"use one of: {', '.join(LOSSES)}")
    if key in ("cross-entropy", "nll"):
        return LOSSES[key](ignore_index=ignore_index, class_dim=class_dim)
    return LOSSES[key]()
