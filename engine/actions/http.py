"""``http.request``: webhooks and simple HTTP calls (a write unless the method is GET)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from typing import Any

import httpx

from engine.depth import loads, walk
from engine.errors import ActionError, UpstreamError
from engine.httpguard import require_safe_scheme
from engine.registry import Action, ActionContext, Result
from engine.secrets import Secret, all_encodings

MAX_BODY = 65536


def _reveal(value: Any) -> Any:
    """``value`` with its secrets unwrapped, for the request only (an iterative walk)."""
    return walk(value, lambda v: v.reveal() if isinstance(v, Secret) else v)


def _masked(value: Any) -> Any:
    if isinstance(value, Secret):
        return "***"
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def _url(args: Mapping[str, Any]) -> str:
    url = args["url"]
    if isinstance(url, Secret):
        raise ActionError("http.request: put secrets in headers, not in the URL")
    parsed = require_safe_scheme(
        str(url), "http.request url", bool(args.get("allow_insecure_http"))
    )
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
    return text if len(text) <= limit else _mask(ctx, text)[:limit]


def _mask(ctx: ActionContext, text: str) -> str:
    from engine.redact import Redactor

    return Redactor(s.reveal() for s in ctx.secrets.values()).text(text)


def request(ctx: ActionContext, args: Mapping[str, Any]) -> Result:
    url = _url(args)
    method = str(args.get("method", "GET")).upper()
    headers = _headers(args.get("headers") or {})
    timeout = float(args.get("timeout", 30))
    # read past the cap by the longest leak form of a secret, so that a secret
    # straddling the end of what was read can be dropped whole (see below)
    margin = max(
        (len(f) for f in all_encodings(s.reveal() for s in ctx.secrets.values())), default=0
    )
    try:
        with ctx.http.stream(
            method,
            url,
            headers={"Accept-Encoding": "identity", **headers},
            json=_reveal(args["json"]) if "json" in args else None,
            timeout=timeout,
        ) as response:
            text, more = _read_capped(response, MAX_BODY + margin, time.monotonic() + timeout)
    except httpx.HTTPError as exc:
        host = httpx.URL(url).host
        raise UpstreamError(method, host, None, f"{type(exc).__name__}: {exc}") from None
    if more and margin:  # the read stopped in the body, maybe in a secret: mask, drop the tail
        masked = _mask(ctx, text)
        text = masked[: len(masked) - margin]
    truncated = more or len(text) > MAX_BODY
    body: Any = _cut(ctx, text, MAX_BODY)
    if response.headers.get("content-type", "").startswith("application/json") and not truncated:
        with contextlib.suppress(ValueError):
            body = loads(text)  # nesting deeper than engine.depth.MAX_DEPTH is cut
    ok = response.status_code < 400
    if not ok and not args.get("accept_errors", False):
        raise UpstreamError(
            method,
            httpx.URL(url).path,
            response.status_code,
            _cut(ctx, text, 300) or response.reason_phrase,
        )
    return {
        "status": response.status_code,
        "ok": ok,
        "body": body,
        "truncated": truncated,
    }


def _read_capped(response: httpx.Response, limit: int, deadline: float) -> tuple[str, bool]:
    """The first ``limit`` bytes of the body as text, and whether there was more.

    The body is streamed and the connection closed after ``limit`` bytes: a
    response of any size costs at most that much memory. Compressed bodies
    are not asked for (``Accept-Encoding: identity``), so a small compressed
    chunk cannot inflate into a large one. A peer that trickles the body is
    cut off at the request's ``timeout`` in total, not per read.
    """
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            break
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("the response did not complete within the timeout")
    data = b"".join(chunks)
    try:
        text = data[:limit].decode(response.encoding or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        text = data[:limit].decode("utf-8", errors="replace")
    return text, size > limit


def plan(ctx: ActionContext, args: Mapping[str, Any]) -> list[dict[str, Any]]:
    url = _url(args)
    return [
        {
            "method": str(args.get("method", "GET")).upper(),
            "url": url,
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
                    "description": "https:// URL (plain http only for loopback hosts, or with allow_insecure_http).",
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
