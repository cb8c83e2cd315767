"""Shell completion (typer's own) through the installed script: the script it prints, the
completions it answers, and that answering them loads no numerical library."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).parent / "landscape"
pytestmark = pytest.mark.skipif(not SCRIPT.exists(), reason="the console script is not installed")


def landscape(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, env={**os.environ, **env}, timeout=60
    )


def test_show_completion_prints_a_bash_completion_script():
    """`--show-completion` detects the shell from the parent process; typer's switch makes it
    take the shell as a value instead, so the test does not depend on who runs it."""
    result = landscape(
        "--show-completion", "bash", _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1"
    )
    assert result.returncode == 0, result.stderr
    assert "_LANDSCAPE_COMPLETE=complete_bash" in result.stdout
    assert "complete -o default -F _landscape_completion landscape" in result.stdout
    assert "--install-completion" in landscape("--help").stdout


def test_the_completion_protocol_completes_commands_options_and_choices():
    def complete(words: str) -> list[str]:
        cword = str(len(words.split()) - (0 if words.endswith(" ") else 1))
        env = {"COMP_WORDS": words, "COMP_CWORD": cword, "_LANDSCAPE_COMPLETE": "complete_bash"}
        result = landscape(**env)
        assert result.returncode == 0, result.stderr
        return result.stdout.split()

    assert complete("landscape tay") == ["taylor-check"]
    assert complete("landscape taylor-check --dir") == ["--direction", "--direction-file"]
    assert complete("landscape spectrum --curvature ") == ["hessian", "ggn", "fisher", "ef"]


def test_completing_loads_no_numerical_library():
    code = (
        "import sys\n"
        "from landscape.cli import main\n"
        "sys.argv = ['landscape']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('torch', 'numpy', 'matplotlib') if m in sys.modules))\n"
    )
    env = {
        **os.environ,
        "COMP_WORDS": "landscape spectrum --k",
        "COMP_CWORD": "2",
        "_LANDSCAPE_COMPLETE": "complete_bash",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout + result.stderr
