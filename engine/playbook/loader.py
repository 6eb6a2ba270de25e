"""Load a playbook file: safe bounded YAML -> validation -> the ``Playbook`` model."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from engine.actions.registry import ActionRegistry
from engine.errors import PlaybookError, TemplateError
from engine.expr.templates import compile_template, is_template
from engine.issues import Code, Issue, Location
from engine.playbook.checks import validate
from engine.playbook.model import (
    DEFAULT_MAX_PARALLEL,
    DEFAULT_MAX_TARGETS,
    MISSING,
    InputSpec,
    Playbook,
    RetryPolicy,
    Step,
)
from engine.playbook.source import MAX_BYTES, Source, load_yaml
from engine.timeutil import parse_duration


def read_bounded(path: str | Path) -> tuple[bytes | None, list[Issue]]:
    """The file's bytes, at most one more than ``MAX_BYTES`` (enough to refuse a huge file)."""
    try:
        with Path(path).open("rb") as fh:
            return fh.read(MAX_BYTES + 1), []
    except OSError as exc:
        return None, [
            Issue(
                "error",
                f"cannot read the file: {exc.strerror}",
                Location(str(path), 1, 1),
                "check the path and that the file can be read",
                code=Code.FILE_UNREADABLE,
            )
        ]


def check_text(
    raw: bytes, registry: ActionRegistry, path: str = "<string>"
) -> tuple[Source, list[Issue]]:
    """The loaded source and every issue, in file order.

    Validation also runs after recoverable YAML problems (a duplicate key, a
    refused tag), so one pass reports everything; not after fatal ones (no data).
    """
    src, issues = load_yaml(raw, path)
    if src.data is not None or not issues:  # a lone `~` is data too: "not a mapping"
        issues = sorted(
            [*issues, *validate(src, registry)],
            key=lambda i: (i.location.line, i.location.col),
        )
    return src, issues


def check_playbook(path: str | Path, registry: ActionRegistry) -> list[Issue]:
    """Every problem in the playbook at ``path`` (errors and warnings)."""
    raw, issues = read_bounded(path)
    if raw is None:
        return issues
    return check_text(raw, registry, str(path))[1]


def load_playbook(path: str | Path, registry: ActionRegistry) -> Playbook:
    """The validated playbook at ``path``; raises ``PlaybookError`` carrying every error."""
    raw, issues = read_bounded(path)
    if raw is None:
        raise PlaybookError(issues[0].format(), issues)
    return _load(raw, registry, str(path))


def load_playbook_text(text: str, registry: ActionRegistry, path: str = "<string>") -> Playbook:
    """Like ``load_playbook`` for text in memory (tests, drills); ``path`` names it in issues."""
    return _load(text.encode(), registry, path)


def check_playbook_text(text: str, registry: ActionRegistry, path: str = "<string>") -> list[Issue]:
    """Like ``check_playbook`` for text in memory."""
    return check_text(text.encode(), registry, path)[1]


def _load(raw: bytes, registry: ActionRegistry, path: str) -> Playbook:
    src, issues = check_text(raw, registry, path)
    errors = [i for i in issues if i.severity == "error"]
    if not errors:
        errors = _compile_templates(src)
    if errors:
        lines = "\n".join(i.format() for i in errors)
        raise PlaybookError(f"{path}: {len(errors)} problem(s):\n{lines}", errors)
    return _build(src, hashlib.sha256(raw).hexdigest())


def _compile_templates(src: Source) -> list[Issue]:
    """Compile every expression now (cached), so a run starts with them compiled.

    Validation only parses them; the rare template that parses but does not
    compile (Jinja checks a few things late) is reported here, at its place.
    """
    issues: list[Issue] = []

    def walk(value: Any, path: tuple[str | int, ...]) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, (*path, k))
        elif isinstance(value, list):
            for n, v in enumerate(value):
                walk(v, (*path, n))
        elif is_template(value):
            try:
                compile_template(value)
            except TemplateError as exc:
                issues.append(Issue("error", str(exc), src.at(path), code=Code.TEMPLATE_COMPILE))

    for i, step in enumerate(src.data["steps"]):
        for key in ("with", "if", "for_each"):
            if key in step:
                walk(step[key], ("steps", i, key))
    walk(src.data.get("outputs") or {}, ("outputs",))
    return issues


def _seconds(value: Any) -> float:
    return parse_duration(value).total_seconds()


def _build(src: Source, sha256: str) -> Playbook:
    data = src.data
    inputs = {
        name: InputSpec(
            name=name,
            type=spec.get("type", "string"),
            required=bool(spec.get("required", False)),
            default=spec.get("default", MISSING),
            description=spec.get("description", ""),
            enum=tuple(spec["enum"]) if "enum" in spec else None,
            format=spec.get("format"),
            location=src.at(("inputs", name)),
        )
        for name, spec in (data.get("inputs") or {}).items()
    }
    steps = []
    for i, s in enumerate(data["steps"]):
        retry = s.get("retry") or {}
        steps.append(
            Step(
                id=s["id"],
                uses=s["uses"],
                with_=s.get("with") or {},
                if_=s.get("if"),
                for_each=s.get("for_each"),
                max_parallel=s.get("max_parallel", DEFAULT_MAX_PARALLEL),
                continue_on_error=bool(s.get("continue_on_error", False)),
                retry=RetryPolicy(
                    attempts=retry.get("attempts", 1),
                    backoff=_seconds(retry["backoff"]) if "backoff" in retry else 1.0,
                    max_backoff=_seconds(retry["max_backoff"]) if "max_backoff" in retry else 60.0,
                ),
                timeout=_seconds(s["timeout"]) if "timeout" in s else None,
                max_targets=s.get("max_targets", DEFAULT_MAX_TARGETS),
                name=s.get("name", ""),
                location=src.at(("steps", i)),
            )
        )
    return Playbook(
        name=data["name"],
        description=data.get("description", ""),
        inputs=inputs,
        steps=tuple(steps),
        outputs=data.get("outputs") or {},
        format=data["playbook"],
        path=src.path,
        sha256=sha256,
    )
