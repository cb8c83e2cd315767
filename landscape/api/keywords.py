"""Each call's keywords from the one table of defaults (`api.defaults`), and errors that name
the keyword (the field) rather than a command-line flag."""

from __future__ import annotations

import difflib
import functools
import inspect
import re
from collections.abc import Callable

from landscape.api.defaults import COMMANDS, LOSS
from landscape.errors import InputError, LandscapeError, NumericalError

# `--k-bottom 3` → `k_bottom=3`, `--range=-1,1` → `range=-1,1`, `--exact` → `exact`
FLAG = re.compile(r"--([a-z][a-z0-9-]*)(?:(?: |=)(?!-)([^\s,;)]+(?:,[^\s,;)]+)*))?")


def as_fields(text: str) -> str:
    """A message of the numerical core, its command-line flags written as keywords."""

    def field(m: re.Match) -> str:
        name, value = m.group(1).replace("-", "_"), m.group(2)
        if value is None:
            return name
        if VALUE.match(value):
            return f"{name}={value}"
        return f"{name} {value}"

    return FLAG.sub(field, text)


# what follows a flag and is its value: a number, a range or list, or a placeholder (N, KEY)
VALUE = re.compile(r"^(-?[\d.][\w.,:+-]*|[A-Z][A-Z_]*|[\w.-]+,[\w.,-]+)$")


def speaking_fields(fn: Callable) -> Callable:
    """Re-raise the library's errors with keywords in place of flags (same class, same data)."""

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LandscapeError as exc:
            exc.problem, exc.fix = as_fields(exc.problem), as_fields(exc.fix)
            exc.args = (exc.line(),)
            raise

    return call


def keywords(command: str, data: bool = True, extra: dict | None = None) -> Callable:
    """Give `fn(model, data, loss, opt)` the signature `fn(model, data, loss=…, *, <the
    command's keywords with their defaults>)`: unknown keywords are refused by name, and `opt`
    holds every keyword's value (the command line's option names); `extra` (Python-only
    inputs such as a second model) are passed to `fn` as keywords."""
    table, extra = COMMANDS[command], extra or {}

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def call(model, *args, **given):
            unknown = [
                k for k in given if k not in table and k not in ("data", "loss", "solver", *extra)
            ]
            if unknown:
                near = difflib.get_close_matches(unknown[0], list(table), n=1)
                hint = f"did you mean {near[0]}? " if near else ""
                raise InputError(
                    f"{fn.__name__}() got an unknown keyword '{unknown[0]}'",
                    f"{hint}the keywords are: {', '.join(table)}",
                )
            bound = signature.bind(model, *args, **given)
            bound.apply_defaults()
            values = dict(bound.arguments)
            opt = {k: values[k] for k in table}
            solver = values.get("solver")
            if solver is not None:
                opt = solver.merged(opt, {k for k in given if k in table})
            rest = [values[k] for k in ("data", "loss") if k in values]
            return fn(values["model"], *rest, opt, **{k: values[k] for k in extra})

        head = [inspect.Parameter("model", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        if data:
            head += [
                inspect.Parameter("data", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None),
                inspect.Parameter("loss", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=LOSS),
            ]
        kw = inspect.Parameter.KEYWORD_ONLY
        tail = [inspect.Parameter(k, kw, default=v) for k, v in table.items()]
        if "tol" in table:
            tail.append(inspect.Parameter("solver", kw, default=None))
        tail += [inspect.Parameter(k, kw, default=v) for k, v in extra.items()]
        signature = inspect.Signature(head + tail)
        call.__signature__ = signature  # type: ignore[attr-defined]
        return speaking_fields(call)

    return wrap


def not_converged(report, pairs, opt: dict, products: int) -> None:
    """NotConverged (carrying `report`) when a pair asked for is not certified, unless
    allow_unconverged."""
    from landscape.errors import NotConverged

    bad = [e for e in pairs if not e.converged]
    if not bad or opt["allow_unconverged"]:
        return
    worst = max(e.error_bound for e in bad)
    raise NotConverged(
        f"the eigen-solver certified {len(pairs) - len(bad)} of {len(pairs)} eigenvalues within "
        f"{products} products (largest residual bound {worst:.3g})",
        "raise max_products or loosen tol, or pass allow_unconverged=True to get them flagged; "
        "the partial report is this error's .report",
        report=report,
    )


__all__ = ["NumericalError", "as_fields", "keywords", "not_converged", "speaking_fields"]
