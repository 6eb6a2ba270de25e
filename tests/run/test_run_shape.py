"""The shape of engine/run/: names imported where they are defined, one step's life, small modules.

Read from the source with ``ast`` (nothing is imported or run): issue 11 asks
that the executor re-export nothing (callers imported ``RunResult`` and
``ENV_SECRETS`` from it), that one step's life read top to bottom in one place
while the executor keeps the run, and that every module stay about 400 lines.
Stages, cycles and private names across modules: ``tests/test_layout.py``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from soarcli import parse_py

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "engine"
RUN = ENGINE / "run"
MAX_LINES = 400


def _sources(*folders: Path) -> Iterator[tuple[str, ast.Module]]:
    for folder in folders:
        for path in sorted(folder.rglob("*.py")):
            if ".venv" not in path.parts:
                yield path.relative_to(ROOT).as_posix(), parse_py(path.read_text("utf-8"))


def _imports(tree: ast.Module) -> Iterator[tuple[int, str, str]]:
    """``(line, module, name)`` of every ``from engine... import name``, lazy ones too."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("engine"):
            for alias in node.names:
                yield node.lineno, str(node.module), alias.name


def _defined(tree: ast.Module) -> set[str]:
    """The names a module defines at its top level (not the ones it imports)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_names_from_run_modules_are_imported_from_the_module_that_defines_them() -> None:
    defined = {
        "engine.run." + path.stem: _defined(parse_py(path.read_text("utf-8")))
        for path in RUN.glob("*.py")
        if path.stem != "__init__"
    }
    found = [
        f"{where}:{line}: {name} is not defined in {module}"
        for where, tree in _sources(ENGINE, ROOT / "tests", ROOT / "bench")
        for line, module, name in _imports(tree)
        if module in defined and name not in defined[module]
    ]
    assert found == []


def test_every_run_module_is_at_most_400_lines() -> None:
    sizes = {p.name: len(p.read_text("utf-8").splitlines()) for p in RUN.glob("*.py")}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def test_one_steps_life_is_in_run_step_and_the_executor_keeps_the_run() -> None:
    executor = _defined(parse_py((RUN / "executor.py").read_text("utf-8")))
    step = _defined(parse_py((RUN / "step.py").read_text("utf-8")))
    assert {"run_playbook", "execute"} <= executor
    assert "run_step" in step and "run_step" not in executor
    # the gates and the write discipline are the step's, never the run's
    assert {"refusals", "_approval", "_write_call"} <= step
    assert not {"refusals", "_approval", "_write_call", "_gate"} & executor
