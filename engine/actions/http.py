"""``http.request``: webhooks and simple HTTP calls (a write unless the method is GET)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import httpx

from engine.errors import ActionError, ConfigError, UpstreamError
from engine.httpguard import require_safe_scheme
from engine.registry import Action, ActionContext, Result
from engine.secrets import Secret, shown_url

MAX_BODY = 65536


def _reveal(value: Any) -> Any:
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, dict):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_reveal(v) for v in value]
    return value


def _masked(value: Any) -> Any:
    if isinstance(value, Secret):
        return "***"
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def _url(args: Mapping[str, Any]) -> str:
    """The URL to send to; a secret URL (a Slack or Teams webhook) is revealed only here."""
    url = args["url"]
    if not isinstance(url, Secret):
        parsed = require_safe_scheme(
            str(url), "http.request url", bool(args.get("allow_insecure_http"))
        )
        return str(parsed)
    try:
        parsed = require_safe_scheme(
            url.reveal(), "http.request url", bool(args.get("allow_insecure_http"))
        )
    except ConfigError:
        # the message would quote the URL: say which secret instead
        raise ConfigError(
            f"http.request url: secrets.{url.name} is not an https:// URL with a host "
            "(plain http only for loopback hosts or with allow_insecure_http)"
        ) from None
    return str(parsed)


def _headers(given: Mapping[str, Any]) -> dict[str, str]:
    """Header values, secrets unwrapped; a non-ASCII value fails without showing it."""
    headers = {str(k): str(_reveal(v)) for k, v in given.items()}
    for name, value in headers.items():
        if not value.isascii() or not name.isascii():
            raise ActionError(
                f"http.request: header {name.encode('ascii', 'replace').decode()!r} is not "
                "ASCII text (HTTP headers are); encode the value (e.g. base64) in the playbook"
            )
    return headers


def _cut(ctx: ActionContext, text: str, limit: int) -> str:
    """``text`` bounded to ``limit``; the run's secrets masked first when it must be cut.

    Redaction downstream cannot recognise the prefix of a secret that a cut
    went through (a server echoing a token back), so it is masked before.
    """
    if len(text) <= limit:
        return text
    from engine.redact import Redactor

    return Redactor(s.reveal() for s in ctx.secrets.values()).text(text)[:limit]


def _hide_secret_url(args: Mapping[str, Any], url: str, text: str) -> str:
    """``text`` without the path and query of a secret URL (a webhook's credential).

    The run's redaction masks the whole URL; a server echoing only its path
    ("no such hook /services/T0/B0/x") would otherwise show the credential.
    """
    if not isinstance(args["url"], Secret):
        return text
    parsed = httpx.URL(url)
    for part in (parsed.raw_path.decode("ascii", "replace"), parsed.path):
        if len(part) > 1:
            text = text.replace(part, "/***")
    return text


def request(ctx: ActionContext, args: Mapping[str, Any]) -> Result:
    url = _url(args)
    shown_path = "/***" if isinstance(args["url"], Secret) else httpx.URL(url).path
    method = str(args.get("method", "GET")).upper()
    headers = _headers(args.get("headers") or {})
    try:
        response = ctx.http.request(
            method,
            url,
            headers=headers,
            json=_reveal(args["json"]) if "json" in args else None,
            timeout=float(args.get("timeout", 30)),
        )
    except httpx.HTTPError as exc:
        host = httpx.URL(url).host
        message = _hide_secret_url(args, url, f"{type(exc).__name__}: {exc}")
        raise UpstreamError(method, host, None, message) from None
    text = response.text
    body: Any = _cut(ctx, text, MAX_BODY)
    if response.headers.get("content-type", "").startswith("application/json"):
        with contextlib.suppress(ValueError):
            body = response.json() if len(text) <= MAX_BODY else body
    ok = response.status_code < 400
    if not ok and not args.get("accept_errors", False):
        raise UpstreamError(
            method,
            shown_path,
            response.status_code,
            _hide_secret_url(args, url, _cut(ctx, text, 300)) or response.reason_phrase,
        )
    return {
        "status": response.status_code,
        "ok": ok,
        "body": body,
        "truncated": len(text) > MAX_BODY,
    }


def plan(ctx: ActionContext, args: Mapping[str, Any]) -> list[dict[str, Any]]:
    url = _url(args)
    return [
        {
            "method": str(args.get("method", "GET")).upper(),
            "url": shown_url(args["url"]) if isinstance(args["url"], Secret) else url,
            "headers": _masked(args.get("headers") or {}),
            "body": _masked(args.get("json")),
        }
    ]


ACTIONS = [
    Action(
        name="http.request",
        func=request,
        plan=plan,
        input_schema={
            "type": "object",
            "additionalProperties": False,
            "required": ["url"],
            "properties": {
                "method": {
                    "enum": ["GET", "POST", "PUT", "PATCH", "DELETE"],
                    "description": "HTTP method (default GET). Anything but GET is a write: it needs approval and is only planned in a dry run.",
                },
                "url": {
                    "type": "string",
                    "description": "https:// URL (plain http only for loopback hosts, or with allow_insecure_http). A URL that carries a credential (a Slack or Teams webhook) can be a secret, {{ secrets.name }}: sent, shown as its scheme and host only.",
                },
                "headers": {
                    "type": "object",
                    "description": "Request headers; values may be {{ secrets.name }}, sent but never logged.",
                },
                "json": {"description": "JSON body."},
                "timeout": {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "description": "Seconds (default 30).",
                },
                "allow_insecure_http": {
                    "type": "boolean",
                    "description": "Allow plain http:// to a non-loopback host.",
                },
                "accept_errors": {
                    "type": "boolean",
                    "description": "Return 4xx/5xx responses as results instead of failing the step.",
                },
            },
        },
        output_schema={
            "type": "object",
            "properties": {
                "status": {"type": "integer"},
                "ok": {"type": "boolean"},
                "body": {"description": "JSON or text, at most 64 KiB."},
                "truncated": {"type": "boolean"},
            },
        },
        effect="write",
        target="url",
        description="Send an HTTP request (e.g. a chat webhook); secrets in headers stay opaque.",
    ),
]
