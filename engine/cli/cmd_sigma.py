"""``soar detections import``: Sigma rules (Auth0's detection catalog) as soar detection files.

Each file is converted by ``engine.serve.sigma`` (docs/sigma.md); every
problem is printed at its place, as ``soar validate`` prints them. A refused
file writes nothing, the others are written: ``-o DIR`` gets ``DIR/<id>.yaml``
each (never over an existing file without ``--force``), stdout the documents
one after another. Exit 0 all imported, 1 a file refused, 2 a file missing.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from engine.textsafe import safe

if TYPE_CHECKING:
    from engine.issues import Issue


def import_cmd(
    files: Annotated[list[Path], typer.Argument(help="Sigma rule files (*.yml), e.g. Auth0's.")],
    out: Annotated[
        Path | None,
        typer.Option("-o", "--out", help="Write DIR/<id>.yaml for each (default: stdout)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace detection files that already exist.")
    ] = False,
) -> None:
    """Convert Sigma rules with a tenant_logs query (and their correlations) to soar detections."""
    from engine.issues import Code, Issue, Location
    from engine.serve.sigmafile import load_sigma, render

    refused = missing = 0
    written: dict[str, Path] = {}
    texts: list[str] = []
    for path in files:
        if not path.is_file():
            missing += 1
            _say(Issue("error", "no such file", Location(str(path)), code=Code.FILE_UNREADABLE))
            continue
        loaded = load_sigma(path)
        for issue in loaded.issues:
            _say(issue)
        rule = loaded.rule
        if rule is not None and rule["id"] in written:
            same = f"id {rule['id']} is also the id imported from {written[rule['id']]}"
            hint = "rename one of the files (the id is the file name)"
            _say(Issue("error", same, Location(str(path)), hint, code=Code.SIGMA_UNSUPPORTED))
            rule = None
        if rule is None:
            refused += 1
            continue
        text = render(rule, loaded.sources, path)
        if out is None:
            texts.append(text)
        elif not _write(out / f"{rule['id']}.yaml", text, force):
            refused += 1
            continue
        written[rule["id"]] = path
    if texts:
        sys.stdout.write("---\n".join(texts))
        sys.stdout.flush()
    where = f" into {safe(out)}" if out is not None else ""
    typer.echo(
        f"soar detections import: {len(written)} imported{where}, {refused} refused"
        + (f", {missing} missing" if missing else ""),
        err=True,
    )
    if missing or refused:
        raise typer.Exit(2 if missing else 1)


def _say(issue: Issue) -> None:
    typer.echo(safe(issue.format()), err=True)


def _write(target: Path, text: str, force: bool) -> bool:
    """Write ``text`` to ``target`` whole or not at all (a temporary file, then a rename)."""
    if target.exists() and not force:
        typer.echo(f"{safe(target)}: error: exists already (--force replaces it)", err=True)
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".import-", suffix=".yaml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def register(app: typer.Typer) -> None:
    """``import`` joins ``soar detections`` (the group is ``cmd_detections``'s)."""
    from engine.cli.cmd_detections import detections_app

    detections_app.command("import")(import_cmd)
