import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import landscape as ls

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3))
x, y = torch.randn(256, 8), torch.randint(0, 3, (256,))
loader = DataLoader(TensorDataset(x, y), batch_size=64)  # in order: read anew on every pass

rep = ls.spectrum(model, loader, nn.CrossEntropyLoss(), k=5, k_bottom=5, dtype=torch.float64)
top = rep.top[0]
print(f"λ_max = {top.value:.6g} ± {top.error_bound:.1g} (certified: {top.converged})")
doc = rep.to_dict()  # the document `landscape spectrum --json` prints

# building blocks: a problem, operators that compose, estimators with their own defaults
problem = ls.make_problem(model, loader, nn.CrossEntropyLoss())
H, G = ls.hessian(problem), ls.ggn(problem)
residual = ls.extreme_eigenpairs(H - G, k=2)  # T = H − G, the part the GGN misses
trace = ls.hutchpp_trace(G, trace_samples=60)
print(f"λ_max(T) = {residual.top[0].value:.3g}, tr G = {trace.value:.4g} ± {trace.stderr:.1g}")
