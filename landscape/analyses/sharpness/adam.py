"""Adam's second moments as a diagonal Hessian estimate, and Adam's own stability threshold.

Source text 003 (MATH.md, "Adam as a Hessian estimate"): near a minimum g ≈ H(θ − θ*), so the
EMA of g² that Adam keeps makes √v̂ track |diag H| up to a scale, and Adam's step
θ ← θ − η m̂/(√v̂ + ε) is a Newton step with H ≈ diag(√v̂ + ε)/η.

Preconditioned sharpness (Cohen et al. 2022, "Adaptive Gradient Methods at the Edge of
Stability", arXiv:2207.14484): with D = diag(√v̂ + ε), the number that decides whether Adam is
stable on the local quadratic is λ_max(D^-1/2 H D^-1/2) (the eigenvalues of D⁻¹H). The
threshold, for a frozen preconditioner and late steps (bias corrections ≈ 1):
in the coordinates y = D^1/2 x of L = ½ xᵀHx, Adam reads n_t = β₁ n_{t−1} + (1 − β₁) A y_t,
y_{t+1} = y_t − η n_t with A = D^-1/2 H D^-1/2, so along an eigenvector of A with eigenvalue a
    y_{t+1} = (1 + β₁ − η(1 − β₁)a) y_t − β₁ y_{t−1}.
Both roots of r² − (1 + β₁ − c) r + β₁ (c = η(1 − β₁)a) lie inside the unit circle iff
0 < c < 2(1 + β₁), i.e.  a < (2 + 2β₁)/((1 − β₁)η)  (= 38/η for β₁ = 0.9; 2/η for β₁ = 0 is
plain GD). MATH.md writes P = D/η; then λ_max(P^-1/2 H P^-1/2) = η·a must stay below
(2 + 2β₁)/(1 − β₁) = 38: the two statements are the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from landscape.analyses.sharpness.optimizer_state import check_optimizer_state
from landscape.analyses.sharpness.preconditioned import lanczos_solver, preconditioned_sharpness
from landscape.analyses.sharpness.report import AdamReport, DiagonalFit
from landscape.curvature.base import CurvatureOperator
from landscape.estimators.trace import diag_pp
from landscape.problem import Problem

OPTIMIZER_KEYS = ("optimizer", "optimizer_state", "optimizer_state_dict", "optim")


class AdamStateError(Exception):
    """The checkpoint's optimizer state cannot serve (not Adam, or not mappable)."""


@dataclass(frozen=True)
class AdamState:
    """Adam's state for the problem's parameters θ, flattened in the problem's order."""

    sqrt_v_hat: Tensor = field(repr=False)  # √v̂ = √(v/(1 − β₂^t))
    lr: Tensor = field(repr=False)  # η of each parameter's group
    eps: Tensor = field(repr=False)  # ε of each parameter's group
    beta1: float
    beta2: float
    step: int
    weight_decay: float
    amsgrad: bool
    unmoved: Tensor | None = field(default=None, repr=False)  # v = 0 exactly (bool per entry)

    def never_moved(self) -> Tensor:
        """Coordinates whose v̂ is exactly 0: every gradient Adam saw there was 0."""
        return self.sqrt_v_hat == 0 if self.unmoved is None else self.unmoved

    def preconditioner(self) -> Tensor:
        """D = √v̂ + ε (Adam's denominator), per parameter."""
        return self.sqrt_v_hat + self.eps


def threshold(beta1: float, lr: float) -> float:
    """Adam's stability threshold on λ_max(D^-1/2 H D^-1/2): (2 + 2β₁)/((1 − β₁)η)."""
    return (2 + 2 * beta1) / ((1 - beta1) * lr)


def optimizer_state_of(metadata: dict) -> dict | None:
    """The optimizer state dict stored in checkpoint metadata, if any (Lightning's
    `optimizer_states` list: its one optimizer's)."""
    lightning = metadata.get("optimizer_states")
    if isinstance(lightning, list | tuple) and len(lightning) == 1:
        metadata = {**metadata, "optimizer": lightning[0]}
    for key in OPTIMIZER_KEYS:
        value = metadata.get(key)
        if isinstance(value, dict) and "state" in value and "param_groups" in value:
            return check_optimizer_state(value)
    return None


def adam_state(problem: Problem, optimizer: dict) -> AdamState:
    """Map an Adam/AdamW state dict onto the problem's parameters.

    The state is keyed by parameter index: the indices of the param groups in order. With
    `param_names` in the groups (optimizers built from named_parameters()) indices map by name;
    otherwise index i is the i-th tensor of model.parameters(), which holds when the optimizer
    was built from model.parameters() — checked by counting and by every tensor's shape.
    """
    groups = optimizer.get("param_groups") or []
    state = optimizer.get("state") or {}
    index_of, group_of = _index_map(problem, groups)
    parts: dict[str, list[Tensor]] = {"v": [], "lr": [], "eps": [], "zero": []}
    steps, betas, decays, amsgrad = set(), set(), set(), False
    for name, param in zip(problem.names, problem.params, strict=True):
        if name not in index_of:
            raise AdamStateError(f"the optimizer state has no entry for parameter '{name}'")
        idx = index_of[name]
        entry = state.get(idx, state.get(str(idx)))
        group = group_of[idx]
        v, use_max = _second_moment(name, param, entry, group)
        step = int(float(entry.get("step", 0)))
        beta1, beta2 = (float(b) for b in group.get("betas", (0.9, 0.999)))
        if step < 1:
            raise AdamStateError(f"parameter '{name}' has taken no Adam step yet")
        steps.add(step)
        betas.add((beta1, beta2))
        decays.add(float(group.get("weight_decay", 0.0)))
        amsgrad |= use_max
        v_hat = v.to(problem.dtype).reshape(-1) / (1 - beta2**step)
        parts["v"].append(v_hat.clamp_min(0).sqrt())
        parts["zero"].append(v.reshape(-1) == 0)  # before a cast that could flush to 0
        parts["lr"].append(torch.full_like(v_hat, float(group.get("lr", math.nan))))
        parts["eps"].append(torch.full_like(v_hat, float(group.get("eps", 1e-8))))
    if len(betas) > 1:
        raise AdamStateError("the parameter groups use different betas")
    beta1, beta2 = betas.pop()
    device = problem.device
    return AdamState(
        sqrt_v_hat=torch.cat(parts["v"]).to(device),
        lr=torch.cat(parts["lr"]).to(device),
        eps=torch.cat(parts["eps"]).to(device),
        beta1=beta1,
        beta2=beta2,
        step=max(steps),
        weight_decay=max(decays),
        amsgrad=amsgrad,
        unmoved=torch.cat(parts["zero"]).to(device),
    )


def _second_moment(name: str, param: Tensor, entry, group: dict) -> tuple[Tensor, bool]:
    """The parameter's v (max_exp_avg_sq under AMSGrad), checked, and whether it is the max."""
    if not isinstance(entry, dict) or "exp_avg_sq" not in entry:
        raise AdamStateError(f"no Adam second moment (exp_avg_sq) for parameter '{name}'")
    use_max = bool(group.get("amsgrad")) and "max_exp_avg_sq" in entry
    v = entry["max_exp_avg_sq" if use_max else "exp_avg_sq"]
    if tuple(v.shape) != tuple(param.shape):
        raise AdamStateError(
            f"exp_avg_sq of '{name}' has shape {tuple(v.shape)}, the parameter "
            f"{tuple(param.shape)}: the optimizer state does not belong to these parameters"
        )
    return v, use_max


def _index_map(problem: Problem, groups: list) -> tuple[dict[str, int], dict[int, dict]]:
    """Parameter name → state index, and state index → its param group."""
    group_of: dict[int, dict] = {}
    named: dict[str, int] = {}
    for group in groups:
        ids = list(group.get("params", []))
        for k, idx in enumerate(ids):
            group_of[idx] = group
            names = group.get("param_names")
            if names is not None and k < len(names):
                named[names[k]] = idx
    if not group_of:
        raise AdamStateError("the optimizer state has no parameter groups")
    if named:
        return {_strip(n): idx for n, idx in named.items()}, group_of
    # Without names, index i is the i-th tensor the optimizer was built from: all of
    # model.parameters(), or (fine-tuning) those that require grad, in the model's order.
    model_names = [n for n, _ in problem.model.named_parameters()]
    ordered = [idx for group in groups for idx in group.get("params", [])]
    for names in (model_names, list(problem.trainable)):
        if len(ordered) == len(names):
            return dict(zip(names, ordered, strict=True)), group_of
    raise AdamStateError(
        f"the optimizer holds {len(ordered)} parameter tensors but the model has "
        f"{len(model_names)} ({len(problem.trainable)} trainable), so its indices cannot be "
        "matched to names"
    )


def _strip(name: str) -> str:
    """Names saved from a wrapped model (DataParallel, torch.compile) without the wrapper."""
    for prefix in ("module.", "_orig_mod."):
        while name.startswith(prefix):
            name = name[len(prefix) :]
    return name


def single_lr(adam: AdamState, lr: float | None) -> float:
    """The η to judge Adam with: the given one, else the groups' common learning rate."""
    if lr is not None:
        return float(lr)
    values = torch.unique(adam.lr)
    if len(values) != 1 or not math.isfinite(float(values[0])):
        raise AdamStateError("the parameter groups use different learning rates (pass --lr)")
    return float(values[0])


def resolve_adam(problem: Problem, optimizer: dict | None, lr: float | None):
    """(AdamState, η) or (None, reason)."""
    if optimizer is None:
        return None, "the checkpoint holds no optimizer state"
    try:
        state = adam_state(problem, optimizer)
        return (state, single_lr(state, lr)), ""
    except AdamStateError as exc:
        return None, f"the optimizer state cannot be used: {exc}"


def analyse_adam(
    op: CurvatureOperator,
    adam: AdamState,
    lr: float,
    *,
    eigen: bool = True,
    diagonal: bool = True,
    keep_unmoved: bool = False,
    tol: float,
    max_products: int | None = None,
    diag_samples: int = 100,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> AdamReport:
    """Preconditioned sharpness against Adam's threshold and the √v̂ ↔ |diag H| fit.

    The coordinates Adam never moved (v̂ = 0) are left out of the preconditioned operator
    unless `keep_unmoved` (preconditioned.py says why, and what is reported about them).
    """
    start = op.products
    limit = threshold(adam.beta1, lr)
    pre, margin = None, None
    if eigen:
        solve = lanczos_solver(tol, max_products, seed, progress)
        pre = preconditioned_sharpness(
            op, adam.preconditioner().rsqrt(), adam.never_moved(), keep_unmoved, solve
        )
        margin = None if pre.pair is None else pre.pair.value / limit
    fit = diagonal_fit(op, adam, lr, diag_samples, seed) if diagonal else None
    return AdamReport(
        lr=lr,
        beta1=adam.beta1,
        beta2=adam.beta2,
        eps=float(adam.eps.max()),
        step=adam.step,
        weight_decay=adam.weight_decay,
        threshold=limit,
        preconditioned=pre.pair if pre else None,
        margin=margin,
        products=op.products - start,
        kept=pre.kept if pre else 0,
        unmoved=int(adam.never_moved().sum()),
        keep_unmoved=keep_unmoved,
        left_out=pre.left_out if pre else None,
        fit=fit,
        notes=[f"weight decay {adam.weight_decay:g} is left out of H"] if adam.weight_decay else [],
    )


def diagonal_fit(
    op: CurvatureOperator, adam: AdamState, lr: float, samples: int, seed: int
) -> DiagonalFit:
    """Spearman correlation and median scale between √v̂ and a Diag++ estimate of |diag H|."""
    from scipy.stats import spearmanr  # slow to import: only when a fit is asked for

    diag, stderr = diag_pp(op, max(2, samples), seed=seed)
    h = diag.abs().double().cpu().numpy()
    s = adam.sqrt_v_hat.double().cpu().numpy()
    rho = float(spearmanr(s, h).statistic) if np.ptp(s) > 0 and np.ptp(h) > 0 else math.nan
    both = (h > 0) & (s > 0)
    log_ratio = np.log10(h[both] / s[both]) if both.any() else np.array([math.nan])
    scale = float(10 ** np.median(log_ratio))
    q75, q25 = np.percentile(log_ratio, [75, 25])
    significant = float(np.mean(h > 2 * stderr.abs().double().cpu().numpy()))
    return DiagonalFit(
        rank_correlation=rho,
        scale=scale,
        newton_ratio=scale * lr,
        log10_spread=float(q75 - q25),
        samples=max(2, samples),
        exact=samples >= op.num_params,
        significant_fraction=significant,
        sqrt_v_hat=adam.sqrt_v_hat.detach().cpu(),
        diag_h=diag.detach().cpu(),
    )
