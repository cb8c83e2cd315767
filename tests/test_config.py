"""Config files (landscape.toml, pyproject [tool.landscape], explicit path) and precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from landscape.cli.config import load_config, resolve_options
from landscape.errors import InputError

DEFAULTS = {"top_k": 10, "tol": 1e-6, "operator": "hessian", "samples": None, "plot": False}

LANDSCAPE_TOML = """
top-k = 5
operator = "ggn"

[gate]
max-sharpness = 12.5

[factory_kwargs]
hidden-size = 3
depth = 2
"""

PYPROJECT = """
[project]
name = "demo"

[tool.landscape]
top_k = 7
tol = 1e-4
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_landscape_toml_in_cwd(tmp_path):
    write(tmp_path / "landscape.toml", LANDSCAPE_TOML)
    config = load_config(cwd=tmp_path)
    assert config == {
        "top_k": 5,
        "operator": "ggn",
        "gate": {"max_sharpness": 12.5},
        "factory_kwargs": {"hidden-size": 3, "depth": 2},  # user kwargs are passed verbatim
    }


def test_pyproject_tool_table_when_no_landscape_toml(tmp_path):
    write(tmp_path / "pyproject.toml", PYPROJECT)
    assert load_config(cwd=tmp_path) == {"top_k": 7, "tol": 1e-4}
    write(tmp_path / "landscape.toml", 'operator = "fisher"\n')
    assert load_config(cwd=tmp_path) == {"operator": "fisher"}  # landscape.toml wins


def test_no_config_is_empty(tmp_path, monkeypatch):
    assert load_config(cwd=tmp_path) == {}
    write(tmp_path / "pyproject.toml", "[project]\nname = 'x'\n")
    assert load_config(cwd=tmp_path) == {}
    monkeypatch.chdir(tmp_path)
    assert load_config() == {}  # cwd defaults to the current directory


def test_explicit_path_beats_cwd_files(tmp_path):
    write(tmp_path / "landscape.toml", "top_k = 1\n")
    (tmp_path / "conf").mkdir()
    write(tmp_path / "conf" / "mine.toml", "top_k = 2\n")
    assert load_config("conf/mine.toml", cwd=tmp_path) == {"top_k": 2}  # relative to cwd
    assert load_config(tmp_path / "conf" / "mine.toml") == {"top_k": 2}
    write(tmp_path / "conf" / "pyproject.toml", PYPROJECT)
    assert load_config(tmp_path / "conf" / "pyproject.toml") == {"top_k": 7, "tol": 1e-4}


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("absent.toml", None, "not found"),
        ("bad.toml", "top_k = = 3\n", "is not valid TOML"),
        ("twice.toml", "top_k = 1\ntop-k = 2\n", "sets 'top_k' twice"),
        ("nested.toml", "[gate]\nmax_x = 1\nmax-x = 2\n", "sets 'gate.max_x' twice"),
    ],
)
def test_config_file_errors(tmp_path, name, text, words):
    if text is not None:
        write(tmp_path / name, text)
    with pytest.raises(InputError) as info:
        load_config(tmp_path / name)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_invalid_landscape_toml_found_in_cwd(tmp_path):
    write(tmp_path / "landscape.toml", "[oops\n")
    with pytest.raises(InputError, match="landscape.toml' is not valid TOML"):
        load_config(cwd=tmp_path)


def test_precedence_cli_then_config_then_defaults():
    cli = {"top_k": 3, "tol": None, "operator": None, "samples": None, "plot": None}
    config = {"tol": 1e-3, "operator": "ggn"}
    assert resolve_options(cli, config, DEFAULTS) == {
        "top_k": 3,
        "tol": 1e-3,
        "operator": "ggn",
        "samples": None,
        "plot": False,
    }
    cli["operator"] = "fisher"
    assert resolve_options(cli, config, DEFAULTS)["operator"] == "fisher"
    assert resolve_options({}, {}, DEFAULTS) == DEFAULTS
    assert resolve_options({"top_k": None}, {"top_k": 4}, DEFAULTS)["top_k"] == 4
    # False and 0 from the command line are values, not "not given".
    assert resolve_options({"plot": False}, {"plot": True}, DEFAULTS)["plot"] is False


def test_config_file_through_resolve(tmp_path):
    write(tmp_path / "pyproject.toml", PYPROJECT)
    config = load_config(cwd=tmp_path)
    resolved = resolve_options({"top_k": None, "tol": None}, config, DEFAULTS)
    assert resolved["top_k"] == 7 and resolved["tol"] == 1e-4 and resolved["operator"] == "hessian"


def test_unknown_config_key_names_valid_ones():
    with pytest.raises(InputError) as info:
        resolve_options({}, {"topk": 3}, DEFAULTS)
    message = str(info.value)
    assert "unknown option 'topk'" in message and "did you mean 'top_k'?" in message
    assert "valid options: operator, plot, samples, tol, top_k" in message
    # Keys of other commands can be declared known and are then ignored.
    assert "dpi" not in resolve_options({}, {"dpi": 300}, DEFAULTS, known=["dpi"])


def test_config_value_types():
    assert resolve_options({}, {"tol": 1}, DEFAULTS)["tol"] == 1.0  # int where float is expected
    assert resolve_options({}, {"samples": 64}, DEFAULTS)["samples"] == 64  # None default: any
    for key, value, words in [
        ("top_k", "5", "should be an integer"),
        ("top_k", True, "should be an integer"),
        ("plot", 1, "should be true or false"),
        ("operator", 3, "should be a string"),
    ]:
        with pytest.raises(InputError, match=words):
            resolve_options({}, {key: value}, DEFAULTS)


def test_sub_tables_merge_over_dict_defaults():
    defaults = {"gate": {"max_sharpness": None, "min_eig": -1.0}, "factory_kwargs": {}}
    config = {"gate": {"max_sharpness": 12.5}, "factory_kwargs": {"depth": 2}}
    resolved = resolve_options({"factory_kwargs": None}, config, defaults)
    assert resolved == {
        "gate": {"max_sharpness": 12.5, "min_eig": -1.0},
        "factory_kwargs": {"depth": 2},
    }
    assert resolve_options({"factory_kwargs": {"depth": 5}}, config, defaults)[
        "factory_kwargs"
    ] == {"depth": 5}
    with pytest.raises(InputError, match=r"unknown option 'gate.max_sharp'.*'gate.max_sharpness'"):
        resolve_options({}, {"gate": {"max_sharp": 1}}, defaults)
    with pytest.raises(InputError, match="should be a table"):
        resolve_options({}, {"gate": 3}, defaults)


def test_a_found_config_may_not_name_code_or_grant_trust(tmp_path):
    from landscape.cli.config import check_found_config

    file = write(tmp_path / "landscape.toml", "")
    harmless = {"k": 3, "data": "val.pt", "trust_checkpoint": False, "factory_kwargs": {}}
    check_found_config(harmless, file)  # options, a data file, trust turned off: fine
    for key, value, words in [
        ("trust_checkpoint", True, "grants trust"),
        ("model_factory", "subprocess:run", "names code to run ('subprocess:run')"),
        ("data", "evil.py:make", "names code"),
        ("data", "pkg.data:make", "names code"),
        ("factory_kwargs", {"trust_remote_code": True}, "passes arguments to code"),
    ]:
        with pytest.raises(InputError) as info:
            check_found_config({key: value}, file)
        message = str(info.value)
        assert f"config option '{key}'" in message and words in message
        assert "--config landscape.toml" in message and "\n" not in message


def test_config_paths_are_relative_to_the_config_and_tilde_expands(tmp_path, monkeypatch):
    from landscape.cli.config import rebased

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    folder = tmp_path / "cfg"
    assert rebased("out", "runs/x", folder) == folder / "runs/x"
    assert rebased("out", "~/x", folder) == tmp_path / "home" / "x"
    assert rebased("model", "/abs/m.pt", folder) == Path("/abs/m.pt")
    assert rebased("data", "d/val.pt", folder) == str(folder / "d/val.pt")
    assert rebased("data", "d/make.py:make", folder) == f"{folder / 'd/make.py'}:make"
    assert rebased("model_factory", "nets.py:build", folder) == f"{folder / 'nets.py'}:build"
    assert rebased("model_factory", "pkg.nets:build", folder) == "pkg.nets:build"  # a module
    assert rebased("data", "pkg.data:make", folder) == "pkg.data:make"
    assert rebased("k", 3, folder) == 3
