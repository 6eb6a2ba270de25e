"""``soar run --help`` tells a script what it can rely on: every exit code, every variable read."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pytest
from soarcli import parse_py, soar

ENGINE = Path(__file__).parents[2] / "engine"
NAME = re.compile(r"\b(?:SOAR|AUTH0)_[A-Z0-9_]*")
# the exit codes of soar run and soar resume (design.md "CLI contract", plus Ctrl-C)
EXIT_CODES = {0, 1, 2, 3, 130}


def variables_in_the_engine() -> set[str]:
    """Every ``SOAR_*``/``AUTH0_*`` name a string of the engine's source mentions.

    Taken from string literals (where the engine spells the names it reads,
    messages and docstrings included), not from Python names such as ``SOAR_ACL``.
    """
    found: set[str] = set()
    for path in ENGINE.rglob("*.py"):
        for node in ast.walk(parse_py(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found |= set(NAME.findall(node.value))
    return found


@functools.cache
def help_of(command: str) -> str:
    done = soar(command, "--help")
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(params=["run", "resume"])
def help_text(request: pytest.FixtureRequest) -> str:
    return help_of(request.param)


def test_every_variable_the_engine_reads_is_listed(help_text: str) -> None:
    names = variables_in_the_engine()
    assert {"AUTH0_DOMAIN", "SOAR_PROTECTED_USERS", "SOAR_SECRET_"} <= names  # the scan works
    for name in sorted(names):
        if name.endswith("_"):  # a prefix: SOAR_SECRET_<NAME>
            assert f"{name}<NAME>" in help_text or name == "AUTH0_", name
        else:  # a whole word: SOAR_SIGNING_KEY is not found inside SOAR_SIGNING_KEY_FILE
            assert re.search(rf"^\s+{name}\s", help_text, re.MULTILINE), name


def test_every_exit_code_is_listed(help_text: str) -> None:
    listed = help_text.split("Exit codes:", 1)[1].split("Environment:", 1)[0]
    codes = {int(m) for m in re.findall(r"^\s+(\d+)\s+\S", listed, re.MULTILINE)}
    assert codes == EXIT_CODES


def test_inputs_are_shown_as_key_value() -> None:
    text = help_of("run")
    assert "-i, --input KEY=VALUE" in text and "list[str]" not in text
