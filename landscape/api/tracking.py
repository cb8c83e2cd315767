"""`ls.track`: the library face of `landscape track`."""

from __future__ import annotations

from pathlib import Path

from landscape.errors import InputError


def track(
    model,
    checkpoints,
    data,
    loss,
    *,
    k: int = 1,
    k_bottom: int = 0,
    tol: float = 1e-3,
    max_products: int | None = None,
    metrics=("lambda_max", "loss", "lr", "proxy"),
    cold: bool = False,
    lr: float | None = None,
    cache: str | Path | None = None,
    trust_checkpoint: bool = False,
    strategy: str = "auto",
    seed: int = 0,
    on_row=None,
    **problem,
):
    """Curvature over a training run: for each checkpoint (files, folders or globs, ordered by
    the step they record, else the number in their names), the certified λ_max (k of them,
    and k_bottom smallest), the loss, the learning rate and its edge 2/η (momentum-aware,
    from the optimizer state), Adam's preconditioned λ_max ("adam" in `metrics`, needs Adam
    state) and the critical-sharpness proxy 2/η_c along −g (a line search, ≤ 9 losses).

    `model` is built once (its weights are not used, nor changed); each checkpoint's state dict
    is swapped in. Each solve starts from the previous one's Ritz vectors unless `cold`.
    `cache`: a folder of rows keyed by file content and settings, so a rerun computes only new
    checkpoints. `on_row(row)` is called as each row is done. Other keywords (batch_size,
    dtype, device, samples, ...) are `ls.make_problem`'s. Returns a TrackReport
    (`.checkpoints`: one Row each; `.to_dict()` the JSON document)."""
    from landscape.analyses.track import METRICS, TrackSettings, analyse_track, expand, plan
    from landscape.api.blocks import make_problem

    names = [checkpoints] if isinstance(checkpoints, str | Path) else list(checkpoints)
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise InputError(f"metrics: unknown {unknown}", f"choose among {', '.join(METRICS)}")
    if k < 0 or k_bottom < 0 or k + k_bottom == 0:
        raise InputError(f"k = {k}, k_bottom = {k_bottom}", "ask for k ≥ 1 or k_bottom ≥ 1")
    settings = TrackSettings(
        k=k, k_bottom=k_bottom, tol=tol, max_products=max_products, seed=seed,
        metrics=tuple(metrics), warm=not cold, lr=lr, trust=trust_checkpoint, strategy=strategy,
    )  # fmt: skip
    prob = make_problem(model, data, loss, **problem)
    entries, order = plan(prob, expand([str(n) for n in names]), settings)
    folder = Path(cache) if cache is not None else None
    return analyse_track(prob, entries, order, settings, cache=folder, on_row=on_row)
