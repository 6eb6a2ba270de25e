"""The dry-run guard: one policy in the HTTP layer that every outgoing request passes.

The executor builds one ``DryRunGuard`` per run; the generic client of
``http.request`` and the Auth0 client both wrap their transport in a
``GuardedTransport`` bound to it. In a dry run any request other than GET/HEAD
is refused before it leaves the process, whatever action or bug sent it. The
one exception is a request explicitly marked as a token request by the Auth0
client (``extensions={TOKEN_REQUEST: True}``): getting a token reads nothing
and writes nothing in the tenant. Playbooks cannot set request extensions.
"""

from __future__ import annotations

import ipaddress
import threading
from typing import Any

import httpx

from engine.errors import ConfigError, DryRunViolation

TOKEN_REQUEST = "soar.token_request"  # noqa: S105 -- an extension key, not a secret
_SAFE_METHODS = frozenset({"GET", "HEAD"})


class DryRunGuard:
    """Refuses non-GET requests while ``dry_run`` is set; counts what it saw."""

    def __init__(self, dry_run: bool) -> None:
        self.dry_run = dry_run
        self._lock = threading.Lock()
        self.refused = 0
        self.writes_sent = 0

    def check(self, request: httpx.Request) -> None:
        if request.method in _SAFE_METHODS:
            return
        if request.extensions.get(TOKEN_REQUEST) is True:
            return
        if self.dry_run:
            with self._lock:
                self.refused += 1
            raise DryRunViolation(
                f"dry run: refused to send {request.method} {request.url.host}{request.url.path}"
                " (a dry run sends no writes; run without --dry-run to apply it)"
            )
        with self._lock:
            self.writes_sent += 1


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport that asks the guard before handing a request to ``inner``."""

    def __init__(self, guard: DryRunGuard, inner: httpx.BaseTransport | None = None) -> None:
        self.guard = guard
        self.inner = inner if inner is not None else httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.guard.check(request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def guarded_client(
    guard: DryRunGuard, transport: httpx.BaseTransport | None = None, **kwargs: Any
) -> httpx.Client:
    """An ``httpx.Client`` whose every request passes ``guard``."""
    return httpx.Client(transport=GuardedTransport(guard, transport), **kwargs)


def is_loopback(host: str) -> bool:
    """Only 127.0.0.0/8, ``::1`` and the literal name ``localhost`` are loopback.

    A name under ``.localhost`` is not: nothing guarantees the resolver this
    process uses maps it to this machine, so plain http to it could leave it.
    """
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_safe_scheme(url: str, setting: str, allow_plain_http: bool = False) -> httpx.URL:
    """Parse ``url``; plain ``http://`` is accepted only for loopback hosts (or when allowed)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ConfigError(f"{setting}: not a valid URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigError(f"{setting}: expected an https:// URL with a host")
    if parsed.scheme == "http" and not allow_plain_http and not is_loopback(parsed.host):
        raise ConfigError(
            f"{setting}: plain http:// is refused for {parsed.host} (use https://; "
            "plain http is allowed only for loopback hosts such as 127.0.0.1)"
        )
    return parsed
