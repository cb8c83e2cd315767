"""Dense float64 truths computed directly with torch.func, independent of the operators."""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, hessian, jacrev  # noqa: F401 (hessian: z only)

from landscape.losses import get_loss
from landscape.problem import Problem, build_problem, unflatten


def flat_loss_fn(problem: Problem):
    def f(flat):
        params = dict(zip(problem.names, unflatten(flat, problem.params), strict=True))
        total = 0.0
        for x, y in problem.batches:
            z = functional_call(problem.model, params, (x,))
            total = total + problem.loss.per_example(z, y).sum()
        return total / problem.num_samples

    return f


def dense_hessian(problem: Problem) -> torch.Tensor:
    """Reverse-over-reverse through plain autograd. torch.func.hessian and jacrev∘jacrev were
    seen off by up to 7% in LayerNorm blocks on torch 2.13 (against finite differences), so
    the functorch transforms are not used for second derivatives here."""
    return torch.autograd.functional.hessian(flat_loss_fn(problem), problem.flat_params())


def _jacobian_and_outputs(problem: Problem):
    x = torch.cat([b[0] for b in problem.batches])
    y = torch.cat([b[1] for b in problem.batches])

    def outputs(flat):
        params = dict(zip(problem.names, unflatten(flat, problem.params), strict=True))
        return functional_call(problem.model, params, (x,)).reshape(len(x), -1)

    theta = problem.flat_params()
    return jacrev(outputs)(theta), outputs(theta).detach(), y  # J: (N, C, p)


def dense_ggn(problem: Problem) -> torch.Tensor:
    """G = (1/N) Σ J_iᵀ ∇²_z ℓ_i J_i with ∇²_z ℓ from autograd (not the closed form)."""
    J, z, y = _jacobian_and_outputs(problem)
    G = torch.zeros(J.shape[2], J.shape[2], dtype=J.dtype)
    for i in range(len(z)):
        zi, yi = z[i : i + 1], y[i : i + 1]
        shape = (1, *zi.shape[1:])

        def li(v, yi=yi, shape=shape):
            return problem.loss.per_example(v.reshape(shape), yi).sum()

        HL = hessian(li)(zi.reshape(-1))
        G += J[i].T @ HL @ J[i]
    return G / len(z)


def dense_empirical_fisher(problem: Problem) -> torch.Tensor:
    """(1/(cN)) Σ g_i g_iᵀ with per-example gradients g_i = ∇θ ℓ_i (jacrev of all ℓ_i)."""
    x = torch.cat([b[0] for b in problem.batches])
    y = torch.cat([b[1] for b in problem.batches])

    def per_example(flat):
        params = dict(zip(problem.names, unflatten(flat, problem.params), strict=True))
        return problem.loss.per_example(functional_call(problem.model, params, (x,)), y)

    theta = problem.flat_params()
    g = jacrev(per_example)(theta)  # (N, p)
    with torch.no_grad():
        z = functional_call(problem.model, dict(zip(problem.names, problem.params)), (x,))
    c = problem.loss.nll_scale(z)
    return g.T @ g / (len(x) * c)


def mlp(sizes=(4, 8, 3), activation=nn.Tanh, seed=0, layernorm=False) -> nn.Module:
    torch.manual_seed(seed)
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            if layernorm:
                layers.append(nn.LayerNorm(sizes[i + 1]))
            layers.append(activation())
    return nn.Sequential(*layers)


def classification_problem(
    n=40,
    sizes=(4, 8, 3),
    seed=0,
    batch_size=16,
    loss="cross-entropy",
    layernorm=False,
    strategy_env=None,
) -> Problem:
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(n, sizes[0], generator=g)
    C = sizes[-1]
    if loss in ("cross-entropy", "nll"):
        y = torch.randint(0, C, (n,), generator=g)
    elif loss == "bce":
        y = (torch.rand(n, C, generator=g) < 0.5).double()
    else:
        y = torch.randn(n, C, generator=g)
    model = mlp(sizes, seed=seed, layernorm=layernorm)
    if loss == "nll":
        model = nn.Sequential(model, nn.LogSoftmax(dim=1))
    return build_problem(model, x, y, get_loss(loss), batch_size=batch_size, dtype=torch.float64)
