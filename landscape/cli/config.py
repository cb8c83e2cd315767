"""Options from a TOML file: ``landscape.toml``, or ``[tool.landscape]`` in ``pyproject.toml``."""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from landscape.errors import InputError
from landscape.nesting import parsed

CONFIG_NAME = "landscape.toml"
PYPROJECT_NAME = "pyproject.toml"
# Sub-tables whose keys are passed through untouched (keyword arguments of user code).
VERBATIM_TABLES = {"factory_kwargs"}


def load_config(path: str | Path | None = None, cwd: Path | None = None) -> dict:
    """The option table, with dashes in option names turned into underscores; {} if none.

    ``path`` names a TOML file (a ``pyproject.toml`` gives its ``[tool.landscape]`` table);
    without it, ``landscape.toml`` in ``cwd`` is read, else ``[tool.landscape]`` of
    ``cwd/pyproject.toml``. Sub-tables stay nested dicts.
    """
    file = find_config(path, cwd)
    if file is None:
        return {}
    table = _read(file)
    if file.name == PYPROJECT_NAME:
        table = _tool_table(table, file)
    return _normalise(table, file)


def find_config(path: str | Path | None = None, cwd: Path | None = None) -> Path | None:
    """The config file ``load_config`` reads, or None."""
    cwd = Path(cwd) if cwd is not None else Path.cwd()
    if path is not None:
        file = Path(path).expanduser()
        if not file.is_absolute():
            file = cwd / file
        if not file.is_file():
            what = "is a directory" if file.is_dir() else "not found"
            raise InputError(f"config file '{file}' {what}", "check the --config path")
        return file
    for file in (cwd / CONFIG_NAME, cwd / PYPROJECT_NAME):
        if file.is_file():
            return file
    return None


def _read(file: Path) -> dict:
    try:
        with open(file, "rb") as f:
            return parsed(tomllib.load, f, f"config file '{file}'")
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"config file '{file}' is not valid TOML ({exc})", "fix the file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read config file '{file}' ({exc})", "check the file") from exc


def _tool_table(table: dict, file: Path) -> dict:
    tool = table.get("tool", {})
    section = tool.get("landscape", {}) if isinstance(tool, dict) else {}
    if not isinstance(section, dict):
        raise InputError(f"'tool.landscape' in '{file}' is not a table", "write [tool.landscape]")
    return section


def _normalise(table: dict, file: Path, where: str = "") -> dict:
    out: dict = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name in out:
            raise InputError(
                f"config file '{file}' sets '{where}{name}' twice (with '-' and '_')",
                "keep one spelling",
            )
        if isinstance(value, dict) and name not in VERBATIM_TABLES:
            value = _normalise(value, file, f"{where}{name}.")
        out[name] = value
    return out


def resolve_options(cli: dict, config: dict, defaults: dict, **kwargs) -> dict:
    """The values of `resolve_with_sources` (same arguments), without their sources."""
    return resolve_with_sources(cli, config, defaults, **kwargs)[0]


def resolve_with_sources(
    cli: dict,
    config: dict,
    defaults: dict,
    known: Iterable[str] = (),
    types: dict[str, Any] | None = None,
    where: str = "the config file",
) -> tuple[dict, dict[str, str]]:
    """Each option's value: the command line's when not None, else the config's, else the default;
    and where each value came from: "cli", "config" or "default".

    Options are the keys of ``defaults`` and ``cli``; ``known`` names further config keys that
    are accepted and ignored (options of other commands). ``types`` gives the type the running
    command declares for its options (else the default's type is expected). An unknown config
    key, or a config value of the wrong type, raises InputError naming the key and ``where``.
    A sub-table whose default is a dict is merged over that default (its keys checked when the
    default lists any).
    """
    options = list(dict.fromkeys([*defaults, *cli]))
    valid = set(options)
    ignored = set(known)
    for key in config:
        if key not in valid and key not in ignored:
            raise InputError(f"unknown option '{key}' in {where}", _valid_fix(key, options))

    types = types or {}
    resolved: dict = {}
    sources: dict[str, str] = {}
    for key in options:
        if cli.get(key) is not None:
            resolved[key], sources[key] = cli[key], "cli"
        elif key in config:
            value = _checked(key, config[key], defaults.get(key), types.get(key), where)
            resolved[key], sources[key] = value, "config"
        else:
            resolved[key], sources[key] = defaults.get(key), "default"
    return resolved, sources


def _valid_fix(key: str, options: list[str], prefix: str = "") -> str:
    close = difflib.get_close_matches(key, options, n=1)
    hint = f"did you mean '{prefix}{close[0]}'? " if close else ""
    return f"{hint}valid options: {', '.join(prefix + o for o in sorted(options))}"


# Options whose config value may take another form than the command line's string.
TABLE_FORMS = {"gate", "factory_kwargs"}  # a TOML table
LIST_FORMS = {"mc_samples"}  # a TOML array of integers
TYPE_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _checked(key: str, value: Any, default: Any, declared: Any, where: str) -> Any:
    if isinstance(default, dict) or (key in TABLE_FORMS and isinstance(value, dict)):
        return _checked_table(key, value, default if isinstance(default, dict) else {}, where)
    if key in LIST_FORMS and isinstance(value, list) and declared in (None, str):
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return value
        raise _type_error(key, value, "an array of integers", where)
    expected = declared if declared is not None else _expected_type(default)
    if expected is None:
        return value
    if expected is list:
        if isinstance(value, str) or (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            return value
        raise _type_error(key, value, "a string or an array of strings", where)
    if expected is Path:
        if isinstance(value, str):
            return value
        raise _type_error(key, value, "a path (string)", where)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, expected) and not (expected is int and isinstance(value, bool)):
        return value
    raise _type_error(key, value, TYPE_WORDS.get(expected, expected.__name__), where, default)


def _checked_table(key: str, value: Any, default: dict, where: str) -> dict:
    if not isinstance(value, dict):
        raise InputError(
            f"config option '{key}' in {where} should be a table, got {value!r}", f"write [{key}]"
        )
    for sub in value if default else ():
        if sub not in default:
            raise InputError(
                f"unknown option '{key}.{sub}' in {where}",
                _valid_fix(sub, list(default), f"{key}."),
            )
    return {**default, **value}


def _type_error(key: str, value: Any, expected: str, where: str, default: Any = None):
    shown = "" if default is None else f" (default: {default!r})"
    return InputError(
        f"config option '{key}' in {where} should be {expected}, got {value!r}",
        f"write {expected}{shown}",
    )


def _expected_type(default: Any) -> type | None:
    for kind in (bool, int, float, str):
        if type(default) is kind:
            return kind
    return None


# ---------------------------------------------------------------- what a found config may do


def check_found_config(used: dict, file: Path) -> None:
    """A config found in the current folder (not named with --config) may have come with the
    files there (a cloned repository): it is not the user's word, so it may not name code to
    run or pass it arguments, nor grant trust. ``used``: the config's values the run takes."""
    for key, value in used.items():
        why = _names_code(key, value)
        if not why:
            continue
        flag = "--" + key.replace("_", "-")
        given = flag if isinstance(value, bool) else f"{flag} ..."
        raise InputError(
            f"config option '{key}' in '{file}' {why}, which a config found in the current "
            "folder may not do (it may have come with the files here)",
            f"pass {given} on the command line, or name the file yourself: --config {file.name}",
        )


def _names_code(key: str, value: Any) -> str:
    if key == "trust_checkpoint" and value:
        return "grants trust"
    if key == "model_factory" and value:
        return f"names code to run ('{value}')"
    if key == "factory_kwargs" and value:
        return "passes arguments to code"
    if key == "data" and isinstance(value, str):
        from landscape.load.data import is_factory

        if is_factory(value.strip()):
            return f"names code to run ('{value}')"
    return ""


def rebased(key: str, value: Any, folder: Path) -> Any:
    """A config's relative path (or the file of a ``file.py:fn`` / data spec) resolved against
    the config file's folder; ``~`` expanded; other values as they are."""
    if not isinstance(value, str | os.PathLike):
        return value
    if key not in SPEC_OPTIONS:
        return _under(value, folder)
    from landscape.load.data import is_factory
    from landscape.load.factory import looks_like_file

    spec = str(value).strip()
    if key == "data" and not is_factory(spec):
        return str(_under(spec, folder))
    if ":" not in spec:
        return value
    target, attr = spec.rsplit(":", 1)
    return f"{_under(target, folder)}:{attr}" if looks_like_file(target) else value


SPEC_OPTIONS = {"data", "model_factory"}  # a path, or code named by path or module


def _under(value: str | os.PathLike, folder: Path) -> Path | str | os.PathLike:
    try:
        path = Path(value).expanduser()
    except RuntimeError:  # a ~ that names no home folder: left for the path check to refuse
        return value
    return path if path.is_absolute() else folder / path
