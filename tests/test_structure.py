"""The layout's rules, checked on the source: layers import only downwards, the batches are read
in two files, numerical modules name no CLI flag, modules stay small, and every option is
declared once (its default, type and help in the option table, nowhere else)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from landscape.api import defaults as D
from landscape.cli import options
from landscape.cli.app import app

PACKAGE = Path(__file__).resolve().parents[1] / "landscape"
CORE = [
    "curvature",
    "estimators",
    "analyses",
    "load",
    "problem.py",
    "losses.py",
    "errors.py",
    "inputs.py",
    "labels.py",
    "distributed.py",
    "report.py",
]
LIBRARY = ["api", "callbacks", "__init__.py"]  # `import landscape as ls`: the CLI is its client
UI_LIBRARIES = {"typer", "click", "rich", "matplotlib"}


def modules(*parts: str) -> list[Path]:
    out = []
    for part in parts:
        path = PACKAGE / part
        out += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return out


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", modules(*CORE), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_numerical_core_imports_no_user_interface(path):
    ui = {n for n in imported(path) if n.split(".")[0] in UI_LIBRARIES}
    upward = {n for n in imported(path) if n.startswith(("landscape.cli", "landscape.render"))}
    assert not ui and not upward, f"{path.name} imports {sorted(ui | upward)}"


@pytest.mark.parametrize("path", modules(*LIBRARY), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_library_imports_no_command_line_and_no_view(path):
    ui = {n for n in imported(path) if n.split(".")[0] in UI_LIBRARIES}
    upward = {n for n in imported(path) if n.startswith(("landscape.cli", "landscape.render"))}
    assert not ui and not upward, f"{path.name} imports {sorted(ui | upward)}"


@pytest.mark.parametrize("path", modules("api"), ids=lambda p: p.name)
def test_the_library_names_keywords_not_flags(path):
    strings = [
        node.value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    flags = [s for s in strings if re.search(r"(^|\s|`)--[a-z]", s)]
    assert not flags, flags


def test_only_the_problem_and_the_operator_base_read_the_batches():
    readers = {
        str(p.relative_to(PACKAGE)) for p in modules("") if re.search(r"\.batches\b", p.read_text())
    }
    assert readers <= {"problem.py", "curvature/base.py"}, readers


@pytest.mark.parametrize("path", modules("curvature", "estimators"), ids=lambda p: p.name)
def test_operators_and_estimators_name_no_flag(path):
    strings = [
        node.value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    flags = [s for s in strings if re.search(r"(^|\s|`)--[a-z]", s)]
    assert not flags, flags


# Report text that a raise carries and that is not an error line: AdamStateError's reason
# becomes the report's `unavailable` entry (the --json document), which the command line does
# not translate, so it keeps the flag it has always printed (issue 21: listed, not cleaned).
REPORT_TEXT = {
    "analyses/sharpness/adam.py": {"the parameter groups use different learning rates (pass --lr)"}
}
# The command line's own options (files and trust), not keywords of any library call: the
# loaders, which read the files they name, may name these flags (`--trust-checkpoint`).
LIBRARY_KEYWORDS = {name for table in D.COMMANDS.values() for name in table} | {"loss", "data"}
CLI_ONLY = {o.flag for o in options.TABLE if o.name not in LIBRARY_KEYWORDS} | {
    "--data"
}  # a data *file* (FILE.pt, module:fn): the library takes the data itself


def flags_in_raises(path: Path) -> list[str]:
    return [
        sub.value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
        for sub in ast.walk(node.exc)
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str)
        and re.search(r"(^|\s|`|\()--[a-z]", sub.value)
        and sub.value not in REPORT_TEXT.get(str(path.relative_to(PACKAGE)), ())
    ]  # fmt: skip


@pytest.mark.parametrize(
    "path",
    modules("analyses", "problem.py", "losses.py", "labels.py"),
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_analyses_and_the_problem_raise_errors_naming_fields_not_flags(path):
    """An error of the analyses, the problem, the losses or the labels names the field
    (`k_bottom`, passed as the error's `fields`); the command line writes it as its flag
    (cli/fields.py)."""
    flags = flags_in_raises(path)
    assert not flags, flags


@pytest.mark.parametrize("path", modules("load"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_loaders_name_only_the_command_lines_own_file_options(path):
    """A loader's error names a keyword of the library as its field (`samples`, `target`,
    `batch_size`, `direction_file`); only the command line's own options, which the library
    has no keyword for (--model-factory, --trust-checkpoint, --partial, a --data file), may
    stay flags in the loaders that read those files."""
    named = {f for s in flags_in_raises(path) for f in re.findall(r"--[a-z][a-z-]*", s)}
    assert named <= CLI_ONLY, sorted(named - CLI_ONLY)


def test_the_cli_only_options_are_not_library_keywords():
    """The loaders' allowance (CLI_ONLY) holds no option that the library also takes."""
    assert "--samples" not in CLI_ONLY and "--target" not in CLI_ONLY
    assert {"--trust-checkpoint", "--model-factory", "--partial"} <= CLI_ONLY


def test_no_module_is_over_500_lines():
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in modules("")
        if (n := len(p.read_text().splitlines())) > 500
    }
    assert not long, long


def test_render_modules_load_matplotlib_only_for_figures():
    for path in modules("render/terminal", "cli"):
        assert "matplotlib" not in {n.split(".")[0] for n in imported(path)}, path


def test_every_option_is_declared_once_per_command():
    for command in options.COMMANDS:
        names = [o.name for o in options.TABLE if command in o.commands]
        assert len(names) == len(set(names)), command


def test_command_parameters_are_the_option_table():
    registered = {info.name: info.callback for info in app.registered_commands}
    assert set(registered) == {c.replace("_", "-") for c in options.COMMANDS}
    for name, callback in registered.items():
        declared = list(options.options_of(name.replace("-", "_")))
        assert list(callback.__signature__.parameters) == declared


def test_no_settings_or_command_module_states_a_default_of_its_own():
    """Defaults live in one place, the library's (api/defaults.py): a command module, the
    command line's edge or the settings layer holding a literal default (DEFAULT_X = ...)
    would be a second place."""
    for path in modules("cli", "api/settings.py", "api/calls.py", "api/keywords.py"):
        assert not re.search(r"^DEFAULT_\w+ = ", path.read_text(), re.M), path


def test_the_option_table_takes_every_library_default_from_the_library():
    """Each option that is a keyword of the library call its command makes is declared with
    `LIB` (its default is the library's object, not a copy); only the command line's own
    options (files, output, the gate's thresholds) state a default, and it is None or False."""
    from landscape.api import defaults as D

    calls = {**{c: (c,) for c in D.COMMANDS}, **options.LIBRARY_CALLS}
    tree = ast.parse((PACKAGE / "cli/options.py").read_text())
    records = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Opt"
    ]
    assert len(records) == len(options.TABLE)
    for node, o in zip(records, options.TABLE, strict=True):
        assert node.args[0].value == o.name
        library = [D.COMMANDS[c] for cmd in o.commands for c in calls.get(cmd, ())]
        keyword = o.name == "loss" or any(o.name in table for table in library)
        default = node.args[2]
        if keyword:
            assert isinstance(default, ast.Name) and default.id == "LIB", o.name
            want = D.LOSS if o.name == "loss" else next(t[o.name] for t in library if o.name in t)
            assert o.default is want, o.name
        else:
            assert isinstance(default, ast.Constant) and default.value in (None, False), o.name


def test_the_defaults_module_loads_without_torch():
    """The option table reads api/defaults.py when `landscape --help` runs: importing it
    (and the api package) loads no numerical library."""
    import subprocess
    import sys

    code = (
        "import sys, landscape.api.defaults; "
        "print(sorted(m for m in ('torch', 'numpy', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_no_module_but_the_cli_edge_writes_fields_as_flags():
    """The library's errors name fields; the command line writes them as flags in one place
    (cli/fields.py, called by every command through options.command): no command catches an
    error to rename it."""
    for path in modules("cli/commands"):
        assert ".naming(" not in path.read_text(), path


def test_help_and_version_load_no_numerical_library():
    """`landscape --help`/`--version` start in a fraction of a second: importing the command
    line loads neither torch nor numpy, scipy or matplotlib (the commands import them when
    they run)."""
    import subprocess
    import sys

    code = (
        "import sys, landscape.cli; "
        "print(sorted(m for m in ('torch', 'numpy', 'scipy', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


# Commands whose analysis still runs in the command (issue 21 item 6): the gate picks the
# sharpness parts its thresholds need and adds the Taylor order; params lists a checkpoint's
# parameters under its path. Each is to call the library and leave this list.
COMMANDS_LEFT = {"gate.py", "params.py"}


@pytest.mark.parametrize(
    "path",
    [p for p in modules("cli/commands") if p.name not in COMMANDS_LEFT | {"__init__.py"}],
    ids=lambda p: p.name,
)
def test_a_command_is_a_client_of_the_library(path):
    """session → settings → the library's call (landscape.api.calls) → emit: no operator
    built and no analysis run in the command itself."""
    names = imported(path)
    tree = ast.parse(path.read_text())
    pulled = {
        a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names
    }  # fmt: skip
    assert not {n for n in names if n.startswith("landscape.curvature")}, names
    assert not {n for n in pulled if n.startswith(("analyse_", "make_operator"))}, pulled
    assert "landscape.api" in names and "calls" in pulled, path.name


@pytest.mark.parametrize(
    "path",
    [p for p in modules("analyses") if p.name != "spectrum.py"],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_the_solvers_figures_come_from_the_estimators_not_the_spectrum(path):
    """SolverInfo lives with the estimators' results: an analysis that runs the solver does
    not import the spectrum analysis for it (issue 21 item 7)."""
    assert "landscape.analyses.spectrum" not in imported(path)


def test_the_library_and_the_callbacks_package_import_no_training_framework():
    """Lightning and transformers are optional extras: `import landscape`, the library's calls
    and `landscape.callbacks` (its core included) load neither; only the framework's own
    module (landscape.callbacks.lightning, .transformers) does."""
    import subprocess
    import sys

    code = (
        "import sys, landscape, landscape.callbacks, landscape.callbacks.core; "
        "import landscape.api.calls, landscape.api.blocks; landscape.spectrum; "
        "print(sorted(m for m in ('lightning', 'pytorch_lightning', 'transformers') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
