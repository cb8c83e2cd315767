"""The command line's edge to the library. Commands build their settings with the library's
own builders (landscape/api/settings.py) from the session's options, and the library's errors
name fields (`k_bottom`); here, and only here, a field becomes its flag (`--k-bottom`).

What stays the command line's own: where a value came from (the flag, the config file or the
checkpoint's metadata), which the library cannot know."""

from __future__ import annotations

import re
from dataclasses import replace

from landscape.api import defaults as D
from landscape.cli.options import options_of
from landscape.errors import InputError, LandscapeError, NotConverged

COUNTS = ("k", "k_bottom", "dims")  # the options that set how many eigenpairs a solve needs
LR_SOURCES = {"cli": "--lr", "config": "config", "metadata": "checkpoint metadata"}
UNCONVERGED_FIX = (
    "raise --max-products or loosen --tol, or pass --allow-unconverged to report them flagged"
)


def library_options(call: str, opt: dict, **given) -> dict:
    """The keywords of library call `call` from a command's options: the library's defaults
    for those the command has not (the gate's sharpness has no slices), `given` over both."""
    table = D.COMMANDS[call]
    return {**table, **{k: v for k, v in opt.items() if k in table}, **given}


def as_flags(exc: LandscapeError, command: str) -> LandscapeError:
    """`exc` with every field it names written as the command's flag: `k=7` → `--k 7`,
    `range='-1,1'` → `--range=-1,1`, `k_bottom` → `--k-bottom` (in place: same class, same
    exit code). A field the command has no option for stays as it is."""
    flags = {name: o.flag for name, o in options_of(command).items()}
    if isinstance(exc, NotConverged) and "allow_unconverged" in flags:  # its fix: the flags
        exc.fix = UNCONVERGED_FIX  # (the library's speaks of keywords and of .report)
    if hasattr(exc, "naming") and "basis_memory" in flags:  # BasisTooSmall: the fix's own words
        counts = ", ".join(flags[c] for c in COUNTS if c in flags)
        named = exc.naming(flags["basis_memory"], counts)
        exc.fix = named.fix if counts else named.fix.replace(" ()", "")
    for field in exc.fields:
        if field in flags:
            marked = any(f"`{field}`" in t for t in (exc.problem, exc.fix))
            exc.problem, exc.fix = (
                flagged(t, field, flags[field], marked) for t in (exc.problem, exc.fix)
            )
    exc.args = (exc.line(),)
    return exc


def flagged(text: str, field: str, flag: str, marked: bool = False) -> str:
    """`field=value` (or `` `field`=value ``) → `flag value` (`flag=value` when the value
    starts with a minus, which the shell would take for a flag) and the field → `flag`:
    written `field` (in backticks) where the message marks it so (`marked`: in its problem
    or its fix, as where its name is also a word of the prose: the loss, the direction),
    else wherever the word stands alone."""

    def with_value(m: re.Match) -> str:
        value = next(v for v in m.groups() if v is not None)
        return f"{flag}={value}" if value.startswith("-") else f"{flag} {value}"

    value = r"""(?:'([^']*)'|"([^"]*)"|([^\s,;)]+))"""
    text = re.sub(rf"(?<![\w-])(?:`{field}`|{field})={value}", with_value, text)
    if marked or f"`{field}`" in text:
        return text.replace(f"`{field}`", flag)
    return re.sub(rf"(?<![\w-]){field}(?![\w=-])", flag, text)


def sharpness_settings(opt: dict, sources: dict[str, str], num_params: int, k_top=None):
    """The library's sharpness settings from a command's options (`k_top` overrides --k);
    the stability figure says where η came from."""
    from landscape.api.settings import sharpness_settings as build

    lr, source = opt.get("lr"), sources.get("lr", "default")
    if source == "metadata" and not (float(lr) > 0 and float(lr) != float("inf")):
        raise InputError(
            f"the checkpoint's lr must be positive and finite, got {lr}", "use e.g. 1e-3"
        )
    given = {} if k_top is None else {"k": k_top}
    settings = build(library_options("sharpness", opt, **given), num_params)
    if settings.lr is None:
        return settings
    return replace(settings, lr_source=LR_SOURCES.get(source, "option"))
