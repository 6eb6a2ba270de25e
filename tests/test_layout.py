"""The layout is the pipeline: each stage imports only the stages below it.

Every ``import`` in ``engine/`` (at module level or inside a function) is read
from the source with ``ast``; the graph of engine modules must have no cycle,
no edge from a stage to one above it, and no private name (``_x``) taken from
another module. docs/architecture.md draws the same order.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from soarcli import ROOT, parse_py

ENGINE = ROOT / "engine"

# What each stage may import besides itself ("base" is engine's top-level modules).
ALLOWED: dict[str, set[str]] = {
    "base": set(),
    "expr": {"base"},
    "logs": {"base"},
    "audit": {"base"},
    "emulator": {"base", "logs"},
    "auth0": {"base", "logs", "audit"},
    "actions": {"base", "expr", "logs", "audit", "auth0"},
    "playbook": {"base", "expr", "logs", "actions"},
    "run": {"base", "expr", "logs", "audit", "auth0", "actions", "playbook"},
    "temporal": {"base", "expr", "logs", "audit", "auth0", "actions", "playbook", "run"},
    # serve's responses may run as Temporal workflows (engine.serve.durable, --engine temporal)
    "serve": {"base", "expr", "logs", "audit", "auth0", "actions", "playbook", "run", "temporal"},
    "drills": {
        "base",
        "expr",
        "logs",
        "audit",
        "auth0",
        "actions",
        "playbook",
        "emulator",
        "run",
        "serve",
    },
    "cli": {
        "base",
        "expr",
        "logs",
        "audit",
        "auth0",
        "actions",
        "playbook",
        "emulator",
        "run",
        "temporal",
        "serve",
        "drills",
    },
}
FACE = {"engine", "engine.__main__"}  # the public face re-exports from every stage, lazily


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ENGINE.rglob("*.py"))}


def stage(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 2 or (len(parts) == 2 and (ENGINE / parts[1]).is_dir()):
        return parts[1]
    return "base"


def imports(
    source: str, module: str, package: str, known: set[str]
) -> Iterator[tuple[str, list[str], int]]:
    """(imported engine module, names taken from it, line) for every import in ``source``."""
    for node in ast.walk(parse_py(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("engine"):
                    yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            if not base.startswith("engine"):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in known:  # ``from engine.audit import signatures``: a module
                    yield sub, [], node.lineno
                else:
                    yield base, [alias.name], node.lineno


def graph(sources: dict[str, tuple[str, str]]) -> tuple[dict[str, set[str]], list[str]]:
    """The import edges between engine modules, and every private name taken across them."""
    known = set(sources)
    edges: dict[str, set[str]] = {m: set() for m in sources}
    private: list[str] = []
    for module, (source, package) in sources.items():
        for target, names, line in imports(source, module, package, known):
            if target == module:
                continue
            edges[module].add(target)
            private += [
                f"{module}:{line}: {n} from {target}"
                for n in names
                if n.startswith("_") and not n.startswith("__")
            ]
    return edges, private


def engine_graph() -> tuple[dict[str, set[str]], list[str]]:
    sources = {}
    for module, path in modules().items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        sources[module] = (path.read_text(encoding="utf-8"), package)
    return graph(sources)


def upward(edges: dict[str, set[str]]) -> list[str]:
    return [
        f"{m} ({stage(m)}) imports {t} ({stage(t)})"
        for m, targets in sorted(edges.items())
        if m not in FACE
        for t in sorted(targets)
        if stage(t) != stage(m) and stage(t) not in ALLOWED[stage(m)]
    ]


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, int] = {}
    found: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if nxt in FACE:  # a package's own __init__ runs before its children: not an edge
                continue
            if state.get(nxt) == 1:
                found.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m, [m])
    return found


def test_the_stages_are_the_folders_the_architecture_names() -> None:
    folders = {p.name for p in ENGINE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert folders == set(ALLOWED) - {"base"}
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = [m for m in modules() if m not in FACE and f"`{m}`" not in text]
    assert missing == [], "docs/architecture.md does not list these modules"


def test_no_stage_imports_a_stage_above_it() -> None:
    assert upward(engine_graph()[0]) == []


def test_the_import_graph_has_no_cycle() -> None:
    assert cycles(engine_graph()[0]) == []


def test_no_module_takes_a_private_name_from_another() -> None:
    assert engine_graph()[1] == []


def test_the_checks_find_an_upward_import_a_cycle_and_a_private_name() -> None:
    """Planted faults, read the same way: each check above can fail."""
    planted = {
        "engine.depth": ("from engine.run.executor import run_playbook\n", "engine"),
        "engine.run.executor": ("from engine.run.state import _Run\n", "engine.run"),
        "engine.run.state": ("from . import executor\n", "engine.run"),
    }
    edges, private = graph(planted)
    assert upward(edges) == ["engine.depth (base) imports engine.run.executor (run)"]
    assert cycles(edges) == [["engine.run.executor", "engine.run.state", "engine.run.executor"]]
    assert private == ["engine.run.executor:1: _Run from engine.run.state"]


def test_import_engine_shows_the_public_face() -> None:
    code = (
        "import sys, engine\n"
        "print(sorted(engine.__all__))\n"
        "print(sorted(m for m in sys.modules if m.startswith('engine.')))\n"
        "from engine import run_playbook, load_playbook, verify_log, PlaybookError\n"
        "print(run_playbook.__module__, load_playbook.__module__, verify_log.__module__)\n"
        "print(all(getattr(engine, n) is not None for n in engine.__all__))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.splitlines()
    face = set(eval(out[0]))  # noqa: S307 - our own subprocess printing a list literal
    assert {
        "load_playbook",
        "validate",
        "run_playbook",
        "resume_run",
        "verify_log",
        "default_registry",
        "SoarError",
        "PlaybookError",
    } <= face
    assert eval(out[1]) == []  # noqa: S307 - importing the face loads nothing until a name is used
    assert out[2].split() == [
        "engine.run.executor",
        "engine.playbook.loader",
        "engine.audit.verify",
    ]


def test_the_face_runs_its_own_example(tmp_path: Path) -> None:
    """The docstring's example, as written, triages the real-shaped export offline."""
    import engine

    doc = engine.__doc__ or ""
    example = doc.split("::", 1)[1].split("``validate(", 1)[0]
    code = "\n".join(line[4:] for line in example.splitlines())
    code = code.replace('"playbooks/', f'"{ROOT}/playbooks/').replace('"tests/', f'"{ROOT}/tests/')
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert run.returncode == 0, run.stderr
    status, users = run.stdout.split(" ", 1)
    assert status == "succeeded" and "auth0|" in users
    assert len(list((tmp_path / "runs").glob("*.jsonl"))) == 1
