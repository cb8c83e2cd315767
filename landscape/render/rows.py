"""Reports as CSV tables: `landscape track --csv`, one row per checkpoint."""

from __future__ import annotations

import csv
import io

HEADER = (
    "path", "step", "loss", "lambda_max", "lambda_max_bound", "lambda_max_converged",
    "lambda_min", "lambda_min_bound", "lambda_min_converged", "products", "warm", "cached",
    "lr", "edge", "proxy", "proxy_bound", "adam_lambda_max", "adam_bound", "adam_edge",
    "seconds", "error",
)  # fmt: skip


def _pair(pairs) -> list:
    return [pairs[0].value, pairs[0].error_bound, pairs[0].converged] if pairs else ["", "", ""]


def _cells(r) -> list:
    p, a = r.proxy, r.adam
    return [
        r.path, r.step, r.loss, *_pair(r.top), *_pair(r.bottom), r.products, r.warm, r.cached,
        r.lr, r.edge, p and p.value, p and p.error_bound, a and a.value, a and a.error_bound,
        a and a.threshold, f"{r.seconds:.3f}", r.error,
    ]  # fmt: skip


def track_csv(report) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for row in report.checkpoints:
        writer.writerow(["" if v is None else repr(v) if isinstance(v, float) else v
                         for v in _cells(row)])  # fmt: skip
    return out.getvalue().encode()
