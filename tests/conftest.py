"""Fixtures several test modules share: the eigen-solver's MLP problem and its dense Hessian
(1.5k products, built once per session)."""

import pytest
import torch
from dense import classification_problem, dense_hessian


@pytest.fixture(scope="session")
def mlp_problem():
    return classification_problem(n=256, sizes=(16, 32, 24, 4), batch_size=100)


@pytest.fixture(scope="session")
def mlp_hessian(mlp_problem) -> torch.Tensor:
    return dense_hessian(mlp_problem)
