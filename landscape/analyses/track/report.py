"""What `landscape track` and `ls.track` return: one row per checkpoint, in step order."""

from __future__ import annotations

from dataclasses import dataclass, field

from landscape.estimators.results import Eigenpair
from landscape.report import Report

METRICS = ("lambda_max", "loss", "lr", "adam", "proxy")
DEFAULT_METRICS = ("lambda_max", "loss", "lr", "proxy")


@dataclass(frozen=True)
class TrackSettings:
    k: int = 1
    k_bottom: int = 0
    tol: float = 1e-3
    max_products: int | None = None
    seed: int = 0
    metrics: tuple[str, ...] = DEFAULT_METRICS
    warm: bool = True  # start each solve from the previous checkpoint's Ritz vectors
    lr: float | None = None  # overrides the optimizer state's
    trust: bool = False
    strategy: str = "auto"


@dataclass(frozen=True)
class AdamRow:
    value: float | None  # λ_max(D^-1/2 H D^-1/2) on the coordinates Adam moved
    error_bound: float | None  # |value − the true eigenvalue| ≤ this (the residual's)
    converged: bool
    threshold: float  # (2 + 2β₁)/((1 − β₁)η): Adam's edge
    products: int


@dataclass(frozen=True)
class ProxyRow:
    value: float | None  # 2/η_c along `direction`
    error_bound: float | None  # half the width of the bracket the line search ends with
    losses: int  # loss evaluations the line search took
    direction: str  # the update direction, or −g when none can be formed


@dataclass(frozen=True)
class Row:
    path: str  # the checkpoint file
    step: int | None  # the step its metadata records (None: ordered by its name)
    loss: float | None = None
    top: list[Eigenpair] = field(default_factory=list)  # the k largest eigenvalues of H
    bottom: list[Eigenpair] = field(default_factory=list)  # the k_bottom smallest
    products: int = 0  # Hessian-vector products of λ (Adam's counted in its own)
    warm: bool = False  # this solve started from the previous checkpoint's vectors
    lr: float | None = None  # the learning rate η
    lr_source: str | None = None  # option | optimizer state
    edge: float | None = None  # the stability limit on λ_max: 2/η (momentum-aware)
    momentum: str | None = None  # the method the edge is for: GD, or the momentum and its β
    adam: AdamRow | None = None  # Adam's preconditioned λ_max ("adam" in metrics)
    proxy: ProxyRow | None = None  # the critical-sharpness proxy ("proxy" in metrics)
    seconds: float = 0.0
    cached: bool = False  # read from the cache folder, not computed in this run
    error: str | None = None  # the checkpoint failed: why (the rest went on)


@dataclass(frozen=True, kw_only=True)
class TrackReport(Report):
    command: str = "track"
    order: str  # step | file name number | file name
    num_params: int
    metrics: list[str]  # what each row computed: lambda_max, loss, lr, adam, proxy
    tol: float  # the eigen-solver's relative tolerance
    warm: bool  # each solve started from the previous checkpoint's Ritz vectors
    checkpoints: list[Row]  # one row per checkpoint, in `order`
    products: int
    seconds: float

    @property
    def failed(self) -> list[Row]:
        return [r for r in self.checkpoints if r.error is not None]


def row_from_dict(d: dict) -> Row:
    """A cached row back from its JSON form."""
    pairs = {key: [Eigenpair(**e) for e in d.get(key) or []] for key in ("top", "bottom")}
    adam = AdamRow(**d["adam"]) if d.get("adam") else None
    proxy = ProxyRow(**d["proxy"]) if d.get("proxy") else None
    return Row(**{**d, **pairs, "adam": adam, "proxy": proxy})
