"""Reading Auth0's answers: error bodies as ``UpstreamError``, token responses, 429 waits.

Management API errors are Boom bodies (``statusCode, error, message,
errorCode``); the token endpoint answers in OAuth form (``error,
error_description``). Each error says what to fix: the setting (never its
value) or the scope to grant. These functions build errors; the client raises them.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from engine.backoff import bounded
from engine.depth import loads
from engine.errors import UpstreamError

TOKEN_PATH = "/oauth/token"  # noqa: S105 -- a URL path, not a secret
_SCOPES = re.compile(r"expected (?:any of|one of)?:?\s*([\w:., -]+)", re.IGNORECASE)


def token_error(response: httpx.Response) -> UpstreamError:
    """A refused token request, naming the settings to check."""
    body = json_body(response)
    desc = str(body.get("error_description") or body.get("message") or response.reason_phrase)
    code = str(body.get("error") or "") or None
    if response.status_code == 401:
        hint = (
            "check AUTH0_CLIENT_ID and AUTH0_CLIENT_SECRET: they must be those of a "
            "Machine-to-Machine application of this tenant"
        )
    elif response.status_code == 403:
        hint = (
            "authorize the application for the Auth0 Management API (a client grant) "
            "with the scopes soar needs, or check AUTH0_AUDIENCE"
        )
    else:
        hint = "check AUTH0_DOMAIN and AUTH0_AUDIENCE"
    return UpstreamError("POST", TOKEN_PATH, response.status_code, desc, code, hint)


def api_error(
    method: str, path: str, response: httpx.Response, *, static_token: bool
) -> UpstreamError:
    """A Management API error answer as an ``UpstreamError`` with Auth0's message and code."""
    body = json_body(response)
    status = response.status_code
    message = str(body.get("message") or body.get("error_description") or "")
    message = message or response.reason_phrase or "error"
    # Boom bodies put the HTTP reason in "error"; the machine-readable code is "errorCode"
    code = str(body["errorCode"]) if body.get("errorCode") else None
    hint = _hint(status, code, message, static_token)
    return UpstreamError(method, path, status, message, code, hint)


def _hint(status: int, code: str | None, message: str, static_token: bool) -> str | None:
    if status == 403 and code == "insufficient_scope":
        m = _SCOPES.search(message)
        scopes = [s.strip() for s in m.group(1).split(",") if s.strip()] if m else []
        if scopes:
            also = f" (or any of: {', '.join(scopes[1:])})" if len(scopes) > 1 else ""
            return (
                f"grant the scope {scopes[0]}{also} to the Machine-to-Machine "
                "application on the Auth0 Management API"
            )
        return "grant the Machine-to-Machine application the scope this call needs"
    if status == 401:
        if static_token:
            return STATIC_BEARER_HINT
        return "a new token was refused too: check the application's grant and AUTH0_AUDIENCE"
    if status == 414:
        return "the query is too long: search fewer values at a time"
    if status == 400 and code in ("invalid_query_string", "invalid_paging"):
        return "check the log query (auth0-facts: searchable fields, wildcards, ranges)"
    return None


STATIC_BEARER_HINT = (
    "AUTH0_TOKEN is invalid or expired: get a new one, or set AUTH0_CLIENT_ID and "
    "AUTH0_CLIENT_SECRET so soar can renew tokens itself"
)


def parse_token(response: httpx.Response) -> tuple[str, float]:
    """``(access_token, expires_in seconds)`` of a 200 token answer; a malformed one is an error."""
    data = json_body(response)
    token = data.get("access_token")
    if not isinstance(token, str) or not token:
        raise UpstreamError(
            "POST",
            TOKEN_PATH,
            200,
            "the token response has no access_token",
            hint="check that AUTH0_DOMAIN names an Auth0 tenant",
        )
    try:
        ttl = float(data.get("expires_in", 86400))
    except (TypeError, ValueError):
        ttl = 60.0  # unreadable lifetime: renew soon rather than use a dead token
    return token, max(ttl, 0.0)


def reset_in(response: httpx.Response, now: float) -> float:
    """Seconds until a 429 clears: Retry-After, else x-ratelimit-reset, else 1 s; within 0.05..60."""
    h = response.headers
    try:
        if "retry-after" in h:
            wait = float(h["retry-after"])
        elif "x-ratelimit-reset" in h:
            wait = float(h["x-ratelimit-reset"]) - now
        else:
            wait = 1.0
    except ValueError:
        wait = 1.0
    return bounded(wait)


def json_body(response: httpx.Response) -> dict[str, Any]:
    """The body as a JSON object, or ``{}`` (an HTML error page, an empty body)."""
    value = json_any(response)
    return value if isinstance(value, dict) else {}


def json_any(response: httpx.Response) -> Any:
    """The body as JSON, or None when it is empty or not JSON.

    Nesting deeper than ``engine.depth.MAX_DEPTH`` is cut: log events carry
    what callers sent (a Management API call's request body).
    """
    if not response.content:
        return None
    try:
        return loads(response.content)
    except ValueError:
        return None
