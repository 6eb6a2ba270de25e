"""``soar detections test``: run the tests detection rules carry (docs/detections.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from engine.cli.output import json_requested
from engine.textsafe import json_text, safe

detections_app = typer.Typer(help="Detection rules (detections/*.yaml).", no_args_is_help=True)


@detections_app.command("test")
def test_cmd(
    paths: Annotated[
        list[Path], typer.Argument(help="Rule files, or folders of them (*.yaml, *.yml).")
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object on stdout: every test's result.")
    ] = False,
) -> None:
    """Run each rule's tests: one line per test, PASS or FAIL with why.

    Exit 0 every test passed, 1 a test failed, 2 a rule does not load (its
    problems are printed as 'soar validate' prints them) or a path does not exist.
    """
    from engine.errors import UsageError
    from engine.serve.rules import load_rules
    from engine.serve.ruletests import run_rule_tests

    json_requested(as_json)
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(safe(str(m)) for m in missing)}")
    rules = load_rules(paths)
    results = run_rule_tests(rules)
    failed = [r for r in results if not r.passed]
    if as_json:
        doc = {
            "status": "failed" if failed else "passed",
            "rules": len(rules),
            "tests": len(results),
            "failed": len(failed),
            "results": [
                {
                    "rule": r.rule,
                    "test": r.name,
                    "passed": r.passed,
                    "why": r.why,
                    "where": str(r.location),
                }
                for r in results
            ],
        }
        typer.echo(json_text(doc))
    else:
        for r in results:
            verdict = "PASS" if r.passed else "FAIL"
            where = f"  ({r.location})" if not r.passed else ""
            typer.echo(safe(f"{verdict} {r.rule}: {r.name}: {r.why}{where}"))
    untested = [r.id for r in rules if not r.tests]
    if untested:
        typer.echo(safe(f"soar detections: no tests in {', '.join(untested)}"), err=True)
    typer.echo(
        f"{len(rules)} rule(s), {len(results)} test(s): {len(results) - len(failed)} passed, "
        f"{len(failed)} failed",
        err=True,
    )
    raise typer.Exit(1 if failed else 0)


def register(app: typer.Typer) -> None:
    app.add_typer(detections_app, name="detections")
