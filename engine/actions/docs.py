"""Generate ``docs/actions.md`` from the action registry: ``python -m engine.actions.docs > docs/actions.md``.

A test checks that the committed file matches, so the reference never drifts
from the code.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from engine.actions import default_registry
from engine.actions.registry import ActionRegistry
from engine.auth0.client import MAX_RETRIES, WAIT_BUDGET


def _type(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return " \\| ".join(json.dumps(v) for v in schema["enum"])
    t = schema.get("type", "any")
    if isinstance(t, list):
        return " \\| ".join(t)
    if t == "array" and isinstance(schema.get("items"), dict):
        return f"array of {schema['items'].get('type', 'any')}"
    return str(t)


def _rows(schema: dict[str, Any], required: set[str]) -> list[str]:
    rows = []
    for name, prop in schema.get("properties", {}).items():
        req = "yes" if name in required else ""
        desc = str(prop.get("description", "")).replace("|", "\\|").replace("\n", " ")
        if prop.get("x-template") == "deferred":
            desc += " (evaluated per item)"
        rows.append(f"| `{name}` | {_type(prop)} | {req} | {desc} |")
    return rows


_CONNECTION = [
    "## Connection to Auth0",
    "",
    "| variable | meaning |",
    "|---|---|",
    "| `AUTH0_DOMAIN` | the tenant: a host (`acme.eu.auth0.com`, https) or a full URL;"
    " plain `http://` only for loopback hosts (the emulator) |",
    "| `AUTH0_CLIENT_ID`, `AUTH0_CLIENT_SECRET` | a Machine-to-Machine application"
    " (client-credentials grant); tokens are cached and renewed before they expire |",
    "| `AUTH0_AUDIENCE` | default `<base URL>/api/v2/` |",
    "| `AUTH0_TOKEN` | a ready Management API token instead of client credentials |",
    "| `SOAR_HTTP_TIMEOUT` | seconds per request (connect, read, write, pool); default 30 |",
    "| `SOAR_HTTP_MAX_CONNECTIONS` | connection pool size shared by a step's threads; default 10 |",
    "",
    "Requests are paced from `x-ratelimit-remaining` / `x-ratelimit-reset` so that a long",
    "search runs near the tenant's rate limit without 429s; a 429 waits for the reset and",
    f"retries (up to {WAIT_BUDGET:.0f} s of waiting per call); 5xx answers, timeouts and",
    f"connection errors are retried {MAX_RETRIES} times with exponential backoff and jitter.",
    "Any other error fails the step with",
    "Auth0's own message and `errorCode` (and what to do: the setting or scope to fix).",
    "Log searches return every match in the window, also past Auth0's 1,000-result cap",
    "(the query is re-run from the last date seen); `stats` says how many requests,",
    "retries and seconds of waiting it took. Auth0 keeps logs for 1 to 30 days depending",
    "on the plan: a `since` further back adds a warning.",
]


def render(registry: ActionRegistry) -> str:
    out = [
        "# Action reference",
        "",
        "Generated from the action registry by `python -m engine.actions.docs`; do not edit by hand.",
        "`soar actions NAME --json` prints the same schemas.",
        "",
        "A **write** action needs approval (`--yes` or the prompt), is only planned in a dry run",
        "(the HTTP layer refuses its requests even if it tried), refuses more targets than the",
        "step's `max_targets` (default 25) and never touches a protected user (`SOAR_PROTECTED_USERS`).",
        "",
        *_CONNECTION,
        "",
        "| action | effect | summary |",
        "|---|---|---|",
    ]
    out += [
        f"| [`{a.name}`](#{a.name.replace('.', '')}) | {a.effect} | {a.description} |"
        for a in registry
    ]
    for a in registry:
        out += ["", f"## {a.name}", "", a.description, "", f"- effect: **{a.effect}**"]
        if a.target:
            out.append(
                f"- target argument: `{a.target}` (blast radius, `max_targets`, protected users)"
            )
        if a.effect == "write":
            out.append(
                f"- idempotent: {'yes: `soar resume` may send it again' if a.idempotent else 'no'}"
            )
        if a.blocks:
            out.append("- blocks its targets: drills count them as blocked (`writes`)")
        out += [
            "",
            "Arguments:",
            "",
            "| name | type | required | description |",
            "|---|---|---|---|",
        ]
        out += _rows(dict(a.input_schema), set(a.input_schema.get("required", []))) or [
            "| (none) | | | |"
        ]
        out += ["", "Result:", "", "| field | type | | description |", "|---|---|---|---|"]
        out += _rows(dict(a.output_schema), set()) or ["| (any) | | | |"]
    return "\n".join(out) + "\n"


def main() -> None:
    sys.stdout.write(render(default_registry()))


if __name__ == "__main__":
    main()
