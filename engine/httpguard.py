"""The dry-run guard: one policy in the HTTP layer that every outgoing request passes.

The executor builds one ``DryRunGuard`` per run; the generic client of
``http.request`` and the Auth0 client both wrap their transport in a
``GuardedTransport`` bound to it. In a dry or offline run (``dry_run``):

- to the tenant (a transport built with ``tenant=True``: the Auth0 client),
  GET and HEAD pass (the Management API's reads have no effect) and so does a
  request the Auth0 client marks as its token request
  (``extensions={TOKEN_REQUEST: True}``): getting a token changes nothing;
- anywhere else (``http.request``'s client) nothing passes, whatever the
  method (many webhooks act on a GET), except a declared lookup: a GET or
  HEAD marked ``extensions={LOOKUP_REQUEST: True}`` by ``http.request`` for a
  step with ``effect: read``, with no body and no credential header, to a host
  the operator listed in ``SOAR_HTTP_READ_HOSTS`` (``read_hosts``).

Playbooks cannot set request extensions. The guard refuses whatever action or
bug sent the request, and counts what it refused and the writes it let through.
"""

from __future__ import annotations

import ipaddress
import os
import threading
from collections.abc import Iterable
from typing import Any

import httpx

from engine.errors import ConfigError, DryRunViolation

TOKEN_REQUEST = "soar.token_request"  # noqa: S105 -- an extension key, not a secret
LOOKUP_REQUEST = "soar.lookup_request"
READ_HOSTS_ENV = "SOAR_HTTP_READ_HOSTS"
_SAFE_METHODS = frozenset({"GET", "HEAD"})
# a lookup carries no credential: it may run in a dry run, where nothing secret should leave
_CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "cookie")


def parse_read_hosts(text: str | None) -> frozenset[str]:
    """``"a.example.com, B.example.com:8443"`` -> lower-cased hosts (``host`` or ``host:port``)."""
    return frozenset(h.strip().lower() for h in (text or "").split(",") if h.strip())


class DryRunGuard:
    """Refuses every request with effect while ``dry_run`` is set; counts what it saw.

    ``read_hosts``: where a declared lookup may go in a dry run (default: the
    hosts in ``SOAR_HTTP_READ_HOSTS``).
    """

    def __init__(self, dry_run: bool, read_hosts: Iterable[str] | None = None) -> None:
        self.dry_run = dry_run
        self.read_hosts = (
            parse_read_hosts(os.environ.get(READ_HOSTS_ENV))
            if read_hosts is None
            else frozenset(h.strip().lower() for h in read_hosts if h.strip())
        )
        self._lock = threading.Lock()
        self.refused = 0
        self.writes_sent = 0

    def check(self, request: httpx.Request, *, tenant: bool = False) -> None:
        """Raise ``DryRunViolation`` for a request this run may not send (see the module doc)."""
        if request.extensions.get(TOKEN_REQUEST) is True and tenant:
            return
        if not self.dry_run:
            if request.method not in _SAFE_METHODS:
                with self._lock:
                    self.writes_sent += 1
            return
        if tenant and request.method in _SAFE_METHODS:
            return
        if not tenant:
            why = self.lookup_refusal(request)
            if why is None:
                return
        else:
            why = "a dry run sends no writes; run without --dry-run to apply it"
        with self._lock:
            self.refused += 1
        raise DryRunViolation(
            f"dry run: refused to send {request.method} {request.url.host}{request.url.path} ({why})"
        )

    def lookup_refusal(self, request: httpx.Request) -> str | None:
        """Why a request outside the tenant may not run in a dry run (``None``: it is a lookup)."""
        plan = "http.request is only planned in a dry or offline run"
        if (
            request.extensions.get(LOOKUP_REQUEST) is not True
            or request.method not in _SAFE_METHODS
        ):
            return f"{plan}; a read that must run is a GET with effect: read"
        if not self.allows_host(request.url):
            return (
                f"{plan}; a lookup may go only to a host listed in {READ_HOSTS_ENV}, "
                f"and {request.url.host} is not"
            )
        if request.content or any(h in request.headers for h in _CREDENTIAL_HEADERS):
            return f"{plan}; a lookup carries no body and no credential header"
        return None

    def allows_host(self, url: httpx.URL) -> bool:
        host = url.host.lower()
        port = url.port or (443 if url.scheme == "https" else 80)
        return host in self.read_hosts or f"{host}:{port}" in self.read_hosts


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport that asks the guard before handing a request to ``inner``.

    ``tenant=True`` only for the Auth0 client: its GETs read the tenant and may
    run in a dry run; any other transport sends nothing in a dry run but lookups.
    Without an ``inner``, the default one (its TLS context: the CA bundle read)
    is made for the first request that passes, so a run that sends none (an
    offline one) never pays for it.
    """

    def __init__(
        self, guard: DryRunGuard, inner: httpx.BaseTransport | None = None, *, tenant: bool = False
    ) -> None:
        self.guard = guard
        self._inner = inner
        self._lock = threading.Lock()
        self.tenant = tenant

    @property
    def inner(self) -> httpx.BaseTransport:
        with self._lock:
            if self._inner is None:
                self._inner = httpx.HTTPTransport()
            return self._inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.guard.check(request, tenant=self.tenant)
        return self.inner.handle_request(request)

    def close(self) -> None:
        with self._lock:
            if self._inner is not None:
                self._inner.close()


def guarded_client(
    guard: DryRunGuard, transport: httpx.BaseTransport | None = None, **kwargs: Any
) -> httpx.Client:
    """An ``httpx.Client`` whose every request passes ``guard`` (as a request outside the tenant)."""
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
