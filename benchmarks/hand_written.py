"""The hand-written script users compare us with: double backward over a kept graph and
scipy's eigsh (its defaults), float32 products, in one process.

    python benchmarks/hand_written.py DIR NAME K WHICH     # WHICH: LA (top) or SA (bottom)
"""

import sys
import time

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, eigsh
from torch.nn.attention import SDPBackend, sdpa_kernel

sys.path.insert(0, ".")
from benchmarks import process_models  # noqa: E402


def main(folder: str, name: str, k: int, which: str) -> None:
    start = time.perf_counter()
    model = getattr(process_models, name)()
    model.load_state_dict(torch.load(f"{folder}/{name}.pt", weights_only=True))
    model.eval()
    data = torch.load(f"{folder}/{name}-data.pt", weights_only=True)
    params = list(model.parameters())
    with sdpa_kernel(SDPBackend.MATH):  # the fused attention kernels have no double backward
        loss = torch.nn.functional.cross_entropy(model(data["x"]), data["y"])
    grads = torch.autograd.grad(loss, params, create_graph=True)
    g = torch.cat([t.reshape(-1) for t in grads])
    products = 0

    def matvec(v):
        nonlocal products
        products += 1
        v = torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32).reshape(-1))
        hv = torch.autograd.grad(g, params, v, retain_graph=True)
        return torch.cat([t.reshape(-1) for t in hv]).double().numpy()

    p = g.numel()
    op = LinearOperator((p, p), matvec=matvec, dtype=np.float64)
    ncv = None if which == "LA" else min(p, 200)  # SA: a basis large enough to converge
    values = np.sort(eigsh(op, k=k, which=which, ncv=ncv, return_eigenvectors=False))
    print(" ".join(f"{v:.10g}" for v in values), products, f"{time.perf_counter() - start:.2f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
