"""How many Krylov vectors fit in memory."""

from __future__ import annotations

import torch

from ..curvature.memory import free_memory_bytes

MAX_BASIS = 300
BASIS_SHARE = 0.25


def basis_size_for(p: int, dtype: torch.dtype, device, wanted: int) -> int:
    """Basis size: up to MAX_BASIS vectors, at most a quarter of the free memory, at least
    enough for a thick restart around the wanted pairs."""
    element = torch.empty((), dtype=dtype).element_size()
    fits = int(BASIS_SHARE * free_memory_bytes(torch.device(device)) // (p * element))
    return max(min(MAX_BASIS, fits, p), min(p, 3 * wanted + 10))
