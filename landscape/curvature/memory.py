"""Should a product route keep its autograd graphs over all batches? Measure, then decide."""

from __future__ import annotations

import torch

from landscape.inputs import num_examples
from landscape.problem import Problem

# The kept graphs may take at most this share of the memory free when the operator is built.
MEMORY_SHARE = 0.5


def free_memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 * 1024**3


def saved_bytes(build, *args) -> int:
    """Bytes of the tensors autograd saves while `build(*args)` runs (an upper bound)."""
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        build(*args)
    return total


def choose_kept_graph(problem: Problem, build) -> bool:
    """True when the graphs of every batch, estimated from the first, fit the memory budget."""
    first = problem.probe_batch()
    per_example = saved_bytes(build, problem.leaves(), first) / num_examples(first.x)
    return per_example * problem.num_samples <= MEMORY_SHARE * free_memory_bytes(problem.device)
