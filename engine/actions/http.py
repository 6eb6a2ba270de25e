"""``http.request``: webhooks and simple HTTP calls (a write unless the method is GET or HEAD).

In a dry or offline run nothing is sent, whatever the method: many webhooks act
on a GET. The one exception is a declared lookup (``effect: read``): a GET or
HEAD with no body and no secret, to a host the operator allow-listed in
``SOAR_HTTP_READ_HOSTS``. The action checks the call's shape (``_lookup``);
the run's ``DryRunGuard`` checks the request again, host included.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from engine.actions.registry import Action, ActionContext, Resolved, Result
from engine.depth import loads, walk
from engine.errors import ActionError, ConfigError, DryRunViolation, UpstreamError
from engine.httpguard import LOOKUP_REQUEST, READ_HOSTS_ENV, require_safe_scheme
from engine.secrets import MASK, Secret, all_encodings, holds_secret, masked
from engine.secrets import shown_url as shown_secret_url

MAX_BODY = 65536
_SHOWN_BODY = 2000


def _reveal(value: Any) -> Any:
    """``value`` with its secrets unwrapped, for the request only (an iterative walk)."""
    return walk(value, lambda v: v.reveal() if isinstance(v, Secret) else v)


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
    return text if len(text) <= limit else _mask(ctx, text)[:limit]


def _mask(ctx: ActionContext, text: str) -> str:
    from engine.audit.redact import Redactor

    return Redactor(s.reveal() for s in ctx.secrets.values()).text(text)


def _lookup(args: Mapping[str, Any]) -> bool:
    """Whether the call is a declared lookup (``effect: read``); raises when it cannot be one."""
    if args.get("effect") != "read":
        return False
    method = str(args.get("method", "GET")).upper()
    if method not in ("GET", "HEAD"):
        raise ActionError(f"http.request: effect: read is for GET or HEAD, not {method}")
    if "json" in args or any(holds_secret(args.get(k)) for k in ("url", "headers")):
        raise ActionError(
            "http.request: a lookup (effect: read) carries no body and no secret: it runs in "
            "dry runs too; drop them, or make the step a write (remove effect: read)"
        )
    return True


def writes(args: Mapping[str, Any]) -> bool:
    """A call writes unless it is a GET or HEAD; ``effect: write`` makes any call a write."""
    method = str(args.get("method", "GET")).upper()
    return method not in ("GET", "HEAD") or args.get("effect") == "write"


def sends_when_planning(args: Mapping[str, Any]) -> bool:
    """A dry or offline run sends only declared lookups (``effect: read``)."""
    return args.get("effect") == "read"


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
            text = text.replace(part, f"/{MASK}")
    return text


@dataclass(frozen=True)
class _Prepared:
    """One request, checked once: what a live call sends and, as ``shown``, what its plan lists.

    ``url``, ``headers`` and ``body`` hold revealed secrets, for the request only.
    """

    method: str
    url: str = field(repr=False)
    headers: dict[str, str] = field(repr=False)
    body: Any = field(repr=False)  # the JSON body, None for none
    lookup: bool
    shown: dict[str, Any]


def _prepare(args: Mapping[str, Any]) -> _Prepared:
    """The request ``args`` describe; raises for one that cannot be sent (a dry run too)."""
    lookup = _lookup(
        args
    )  # a contradictory effect: read fails the dry run as it would the real one
    url = _url(args)
    method = str(args.get("method", "GET")).upper()
    shown = {
        "method": method,
        "url": shown_url(args["url"]) if isinstance(args["url"], Secret) else url,
        "headers": masked(args.get("headers") or {}),
        "body": masked(args.get("json")),
    }
    body = _reveal(args["json"]) if "json" in args else None
    return _Prepared(method, url, _headers(args.get("headers") or {}), body, lookup, shown)


def request(ctx: ActionContext, args: Mapping[str, Any]) -> Result:
    prepared = _prepare(args)
    lookup, url, method = prepared.lookup, prepared.url, prepared.method
    if ctx.dry_run and not lookup:  # the executor plans these; this is the second line
        raise DryRunViolation(
            "dry run: http.request is only planned, not sent (a read that must run is a GET "
            f"with effect: read to a host in {READ_HOSTS_ENV})"
        )
    shown_path = f"/{MASK}" if isinstance(args["url"], Secret) else httpx.URL(url).path
    headers = prepared.headers
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
            json=prepared.body,
            timeout=timeout,
            extensions={LOOKUP_REQUEST: True} if lookup else None,
        ) as response:
            text, more = _read_capped(response, MAX_BODY + margin, time.monotonic() + timeout)
    except httpx.HTTPError as exc:
        host = httpx.URL(url).host
        message = _hide_secret_url(args, url, f"{type(exc).__name__}: {exc}")
        raise UpstreamError(method, host, None, message) from None
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
            shown_path,
            response.status_code,
            _hide_secret_url(args, url, _cut(ctx, text, 300)) or response.reason_phrase,
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
    """The request a live call would send, as shown (secrets masked): built by ``_prepare``."""
    return [_prepare(args).shown]


def shown_url(value: Any) -> str:
    """The URL as an approver sees it: a secret URL shows only its scheme and host.

    A password in the URL's userinfo is masked too.
    """
    if isinstance(value, Secret):
        return shown_secret_url(value)
    text = str(value)
    try:
        parsed = httpx.URL(text)
    except (httpx.InvalidURL, TypeError):
        return text
    if parsed.password:
        userinfo = parsed.userinfo.decode("ascii", "replace")
        return text.replace(f"{userinfo}@", f"{parsed.username}:{MASK}@", 1)
    return text


def resolve(ctx: ActionContext, args: Mapping[str, Any]) -> Resolved:
    """What an approver is shown for one request: method, URL and body (secrets masked)."""
    url = shown_url(args.get("url"))
    details = {"method": str(args.get("method", "GET")).upper(), "url": url}
    if "json" in args:
        body = masked(args.get("json"))
        text = json.dumps(body, ensure_ascii=False, default=str)
        # shown in four approval records and on a terminal: bounded, the rest is in action.call
        details["body"] = (
            body if len(text) <= _SHOWN_BODY else f"{text[:_SHOWN_BODY]}... ({len(text)} chars)"
        )
    return Resolved(names=frozenset({url.lower()}), details=details)


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
                    "enum": ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
                    "description": "HTTP method (default GET). Anything but GET or HEAD is a write: it needs approval. In a dry or offline run nothing is sent, whatever the method, unless the call is a lookup (effect: read).",
                },
                "effect": {
                    "enum": ["read", "write"],
                    "description": "read: a pure lookup (GET or HEAD, no body, no secret) that also runs in a dry or offline run, only to a host listed in SOAR_HTTP_READ_HOSTS. write: the call needs approval even as a GET (an endpoint that acts on a GET).",
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
        resolve=resolve,
        sends_when_planning=sends_when_planning,
        writes_when=writes,
    ),
]
