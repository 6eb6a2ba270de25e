"""A Sigma file read and converted (``engine.serve.sigma``), and the detection file written from it.

``soar detections import`` reads each file with ``load_sigma`` and writes
``render``'s text: where the rule came from in comments, then the rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from engine.issues import Code, Issue, Location
from engine.playbook.source import MAX_BYTES, Source, load_yaml_all
from engine.serve.sigma import convert
from engine.textsafe import safe


@dataclass(frozen=True)
class Loaded:
    """One Sigma file read and converted: its documents, the rule (None: refused), problems."""

    path: Path
    sources: list[Source]
    rule: dict[str, Any] | None
    issues: list[Issue]


def load_sigma(path: Path) -> Loaded:
    """Read and convert one Sigma file; every problem comes back, located, as data."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as exc:
        where = Location(str(path))
        problem = Issue("error", f"cannot read: {exc.strerror}", where, code=Code.FILE_UNREADABLE)
        return Loaded(path, [], None, [problem])
    sources, issues = load_yaml_all(raw, str(path))
    if issues:
        return Loaded(path, sources, None, issues)
    rule, issues = convert(sources, path)
    return Loaded(path, sources, rule, issues)


class _Dumper(yaml.SafeDumper):
    """YAML as a person writes it: a text of several lines as a block (``|``)."""


def _text(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    # PyYAML falls back to a quoted scalar where a block cannot hold the text exactly
    return dumper.represent_scalar(
        "tag:yaml.org,2002:str", data, style="|" if "\n" in data else None
    )


_Dumper.add_representer(str, _text)


def render(rule: Mapping[str, Any], sources: Sequence[Source], path: Path) -> str:
    """The rule as a detection file: where it came from in comments, then the document.

    Comment lines hold Sigma text through ``safe`` (no line break can end a
    comment and start a key); the document is dumped by PyYAML, which quotes
    what needs quoting, so nothing in a Sigma file becomes a field of the rule.
    """
    lines = ["# yaml-language-server: $schema=../schemas/detection.schema.json"]
    lines.append(f"# Imported from Sigma by soar detections import: {safe(path.name)}")
    for src in sources:
        data = src.data if isinstance(src.data, Mapping) else {}
        kind = "correlation" if "correlation" in data else "rule"
        for key in ("title", "id", "name"):
            if data.get(key) is not None:
                lines.append(f"# sigma {kind} {key}: {safe(data[key])}")
        refs = data.get("references")
        for ref in refs if isinstance(refs, list) else []:
            lines.append(f"# sigma reference: {safe(ref)}")
    body = yaml.dump(dict(rule), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(lines) + "\n" + body
