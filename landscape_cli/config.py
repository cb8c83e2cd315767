"""Options from a TOML file: ``landscape.toml``, or ``[tool.landscape]`` in ``pyproject.toml``."""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from landscape_cli.errors import InputError

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
    cwd = Path(cwd) if cwd is not None else Path.cwd()
    if path is not None:
        file = Path(path).expanduser()
        if not file.is_absolute():
            file = cwd / file
        if not file.is_file():
            what = "is a directory" if file.is_dir() else "not found"
            raise InputError(f"config file '{file}' {what}", "check the --config path")
        table = _read(file)
        if file.name == PYPROJECT_NAME:
            table = _tool_table(table, file)
        return _normalise(table, file)
    file = cwd / CONFIG_NAME
    if file.is_file():
        return _normalise(_read(file), file)
    file = cwd / PYPROJECT_NAME
    if file.is_file():
        return _normalise(_tool_table(_read(file), file), file)
    return {}


def _read(file: Path) -> dict:
    try:
        with open(file, "rb") as f:
            return tomllib.load(f)
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


def resolve_options(cli: dict, config: dict, defaults: dict, known: Iterable[str] = ()) -> dict:
    """Each option's value: the command line's when not None, else the config's, else the default.

    Options are the keys of ``defaults`` and ``cli``; ``known`` names further config keys that
    are accepted and ignored (options of other commands). An unknown config key, or a config
    value of the wrong type for its default, raises InputError. A sub-table whose default is a
    dict is merged over that default (its keys checked when the default lists any).
    """
    options = list(dict.fromkeys([*defaults, *cli]))
    valid = set(options)
    ignored = set(known)
    for key in config:
        if key not in valid and key not in ignored:
            raise InputError(f"unknown option '{key}' in the config file", _valid_fix(key, options))

    resolved: dict = {}
    for key in options:
        if cli.get(key) is not None:
            resolved[key] = cli[key]
        elif key in config:
            resolved[key] = _checked(key, config[key], defaults.get(key))
        else:
            resolved[key] = defaults.get(key)
    return resolved


def _valid_fix(key: str, options: list[str], prefix: str = "") -> str:
    close = difflib.get_close_matches(key, options, n=1)
    hint = f"did you mean '{prefix}{close[0]}'? " if close else ""
    return f"{hint}valid options: {', '.join(prefix + o for o in sorted(options))}"


def _checked(key: str, value: Any, default: Any) -> Any:
    if isinstance(default, dict):
        if not isinstance(value, dict):
            raise InputError(
                f"config option '{key}' should be a table, got {value!r}", f"write [{key}]"
            )
        if default:
            for sub in value:
                if sub not in default:
                    raise InputError(
                        f"unknown option '{key}.{sub}' in the config file",
                        _valid_fix(sub, list(default), f"{key}."),
                    )
        return {**default, **value}
    expected = _expected_type(default)
    if expected is None:
        return value
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, expected) and not (expected is int and isinstance(value, bool)):
        return value
    raise InputError(
        f"config option '{key}' should be {expected.__name__}, got {value!r}",
        f"write a {expected.__name__} value (default: {default!r})",
    )


def _expected_type(default: Any) -> type | None:
    for kind in (bool, int, float, str):
        if type(default) is kind:
            return kind
    return None
