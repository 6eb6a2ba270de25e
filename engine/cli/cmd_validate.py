"""``soar validate`` and ``soar actions``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from engine.cli.output import json_requested
from engine.textsafe import json_text, safe


def _collect(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """The playbook files named or found under the folders, and the paths that do not exist."""
    files: list[Path] = []
    missing: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(
                f
                for f in p.rglob("*")
                if f.suffix in (".yaml", ".yml")
                and f.is_file()
                # hidden folders (.git, .venv, .github) hold no playbooks
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
            if not found:
                # not an error (exit 0), but a CI job pointed at the wrong folder should see it
                typer.echo(f"soar validate: {safe(p)}: no *.yaml or *.yml files", err=True)
            files.extend(found)
        elif p.exists():
            files.append(p)
        else:
            missing.append(p)
    return files, missing


def validate_cmd(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Playbook or detection rule files, or folders (*.yaml, *.yml)."),
    ],
    as_json: Annotated[
        bool,
        typer.Option("--json", help="One JSON object on stdout: every problem, with its code."),
    ] = False,
) -> None:
    """Check playbooks and detection rules: every problem, as path:line:col, with its SOAR code.

    A file with a top-level 'detection:' key is a detection rule (docs/detections.md);
    rule ids must be unique across every file given. Exit 0 no error (warnings
    allowed), 1 errors found, 2 a path does not exist. The codes are explained in
    docs/errors.md.
    """
    from engine.actions import default_registry
    from engine.issues import Code, Issue, Location
    from engine.playbook.loader import check_playbook
    from engine.serve.rules import check_rules, is_rule_file

    json_requested(as_json)
    registry = default_registry()
    files, missing = _collect(paths)
    rules = [f for f in files if is_rule_file(f)]
    playbooks = [f for f in files if f not in rules]
    issues = [issue for f in playbooks for issue in check_playbook(f, registry)]
    if rules:
        issues += check_rules(rules)
        order = {str(f): n for n, f in enumerate(files)}
        issues.sort(key=lambda i: order.get(i.location.path, len(order)))
    errors = sum(i.severity == "error" for i in issues)
    absent = [
        Issue(
            "error",
            "no such file or folder",
            Location(str(m)),
            "check the path",
            code=Code.FILE_UNREADABLE,
        )
        for m in missing
    ]
    if as_json:
        problems = [i.to_json() for i in [*issues, *absent]]
        status = "invalid" if errors or absent else "valid"
        doc = {
            "status": status,
            "checked": len(files),
            "errors": errors + len(absent),
            "warnings": len(issues) - errors,
            "problems": problems,
        }
        typer.echo(json_text(doc))
    else:
        for issue in issues:
            typer.echo(safe(issue.format()))
    for m in missing:
        typer.echo(f"soar validate: {safe(m)}: no such file or folder", err=True)
    checked = f"{len(playbooks)} playbook(s)" + (
        f" and {len(rules)} detection rule(s)" if rules else ""
    )
    typer.echo(
        f"{checked} checked: {errors} error(s), {len(issues) - errors} warning(s)",
        err=True,
    )
    if missing:
        raise typer.Exit(2)
    raise typer.Exit(1 if errors else 0)


def actions_cmd(
    name: Annotated[str | None, typer.Argument(help="Show one action with its schemas.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the registered actions, or show one with its input and output schemas."""
    from engine.actions import default_registry
    from engine.errors import UsageError

    json_requested(as_json)
    registry = default_registry()
    if name is None:
        if as_json:
            rows = [
                {"name": a.name, "effect": a.effect, "description": a.description} for a in registry
            ]
            typer.echo(json.dumps(rows, indent=2))
            return
        width = max(len(a.name) for a in registry)
        for a in registry:
            typer.echo(f"{a.name:<{width}}  {a.effect:<5}  {a.description}")
        return
    action = registry.get(name)
    if action is None:
        near = registry.suggest(name)
        hint = (
            f" (did you mean {', '.join(near)}?)" if near else " (run 'soar actions' for the list)"
        )
        raise UsageError(f"unknown action {name!r}{hint}")
    doc = {
        "name": action.name,
        "effect": action.effect,
        "description": action.description,
        "target": action.target,
        "input_schema": action.input_schema,
        "output_schema": action.output_schema,
    }
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
        return
    typer.echo(f"{action.name} ({action.effect})\n{action.description}")
    if action.target:
        typer.echo(f"target: the '{action.target}' argument (max_targets, protected users)")
    typer.echo("")
    typer.echo("input schema:\n" + json.dumps(action.input_schema, indent=2))
    typer.echo("output schema:\n" + json.dumps(action.output_schema, indent=2))
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    app.command("validate")(validate_cmd)
    app.command("actions")(actions_cmd)
