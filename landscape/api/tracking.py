"""`ls.track`: the library face of `landscape track`."""

from __future__ import annotations

from pathlib import Path

from landscape.api.defaults import PROBLEM, STRATEGY, TRACK
from landscape.errors import InputError


def track(
    model,
    checkpoints,
    data,
    loss,
    *,
    k: int = TRACK["k"],
    k_bottom: int = TRACK["k_bottom"],
    tol: float = TRACK["tol"],
    max_products: int | None = TRACK["max_products"],
    metrics=TRACK["metrics"],
    cold: bool = TRACK["cold"],
    lr: float | None = TRACK["lr"],
    cache: str | Path | None = TRACK["cache"],
    trust_checkpoint: bool = False,
    strategy: str = STRATEGY["strategy"],
    seed: int = PROBLEM["seed"],
    on_row=None,
    target=PROBLEM["target"],
    output=PROBLEM["output"],
    ignore_index: int = PROBLEM["ignore_index"],
    class_dim=PROBLEM["class_dim"],
    samples=PROBLEM["samples"],
    batch_size=PROBLEM["batch_size"],
    dtype=PROBLEM["dtype"],
    device=PROBLEM["device"],
    params=PROBLEM["params"],
    shift_labels: str = PROBLEM["shift_labels"],
):
    """Curvature over a training run: for each checkpoint (files, folders or globs, ordered by
    the step they record, else the number in their names), the certified λ_max (k of them,
    and k_bottom smallest), the loss, the learning rate and its edge 2/η (momentum-aware,
    from the optimizer state), Adam's preconditioned λ_max ("adam" in `metrics`, needs Adam
    state) and the critical-sharpness proxy 2/η_c along −g (a line search, ≤ 9 losses).
    `metrics`: a list of names or a comma-separated string.

    `model` is built once (its weights are not used, nor changed); each checkpoint's state dict
    is swapped in. Each solve starts from the previous one's Ritz vectors unless `cold`.
    `cache`: a folder of rows keyed by file content and settings, so a rerun computes only new
    checkpoints. `on_row(row)` is called as each row is done. The problem's keywords (target,
    batch_size, dtype, device, samples, ...) are `ls.make_problem`'s. Returns a TrackReport
    (`.checkpoints`: one Row each; `.to_dict()` the JSON document)."""
    from landscape.api.blocks import make_problem

    opt = dict(
        k=k, k_bottom=k_bottom, tol=tol, max_products=max_products, metrics=metrics, cold=cold,
        lr=lr, cache=cache, strategy=strategy, seed=seed,
    )  # fmt: skip
    prob = make_problem(
        model, data, loss, target=target, output=output, ignore_index=ignore_index,
        class_dim=class_dim, samples=samples, batch_size=batch_size, dtype=dtype, device=device,
        seed=seed, params=params, shift_labels=shift_labels,
    )  # fmt: skip
    return run_track(prob, checkpoints, opt, trust_checkpoint, on_row)


def run_track(problem, checkpoints, opt: dict, trust: bool = False, on_row=None):
    """The track of `problem` over `checkpoints` with the keywords `opt` (`ls.track`'s and the
    command line's `track`)."""
    from landscape.analyses.track import METRICS, TrackSettings, analyse_track, expand, plan

    names = [checkpoints] if isinstance(checkpoints, str | Path) else list(checkpoints or [])
    if not names:
        raise InputError("checkpoints: none given", "name checkpoint files, a folder or a glob")
    metrics = opt["metrics"]
    if isinstance(metrics, str):
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise InputError(f"metrics: unknown {unknown}", f"choose among {', '.join(METRICS)}")
    k, k_bottom = opt["k"], opt["k_bottom"]
    if k < 0 or k_bottom < 0 or k + k_bottom == 0:
        raise InputError(f"k = {k}, k_bottom = {k_bottom}", "ask for k ≥ 1 or k_bottom ≥ 1")
    settings = TrackSettings(
        k=k, k_bottom=k_bottom, tol=opt["tol"], max_products=opt["max_products"],
        seed=opt["seed"], metrics=tuple(metrics), warm=not opt["cold"], lr=opt["lr"],
        trust=trust, strategy=opt["strategy"],
    )  # fmt: skip
    entries, order = plan(problem, expand([str(n) for n in names]), settings)
    folder = Path(opt["cache"]) if opt["cache"] is not None else None
    return analyse_track(problem, entries, order, settings, cache=folder, on_row=on_row)
