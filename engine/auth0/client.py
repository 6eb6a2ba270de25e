"""The Auth0 Management API client: token, pacing, retries, and one error type.

Every request passes the run's ``DryRunGuard`` (only the token request is let
through in a dry run). Tokens come from the client-credentials grant, are
cached until shortly before they expire, and are renewed once when the API
answers 401. Rate limits are paced from the ``x-ratelimit-*`` headers
(``engine.auth0.pacer``); a 429 waits for the reset (with jitter) and retries
within a wait budget; 5xx, timeouts and connection errors retry with
exponential backoff and jitter, a bounded number of times. Any other error
becomes an ``UpstreamError`` (built by ``engine.auth0.responses``), raised
in ``_fail`` (API) or ``_fetch_token`` (token endpoint) only. Messages never
contain a secret, a token, a request body or a query string.

The client is shared by the threads of a ``for_each`` step: the token, the
pacer and the counters are guarded by locks; httpx's pool is thread-safe.

Every wait, retry, refusal and give-up is one event of the operational log
(``engine.auth0.events``).
"""

from __future__ import annotations

import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import httpx

from engine.auth0 import events
from engine.auth0.events import PACING
from engine.auth0.pacer import Pacer
from engine.auth0.responses import (
    STATIC_BEARER_HINT,
    TOKEN_PATH,
    api_error,
    json_any,
    parse_token,
    reset_in,
    token_error,
)
from engine.auth0.settings import Auth0Settings
from engine.backoff import backoff, spread
from engine.errors import ActionError, DryRunViolation, RateLimitError, UpstreamError
from engine.httpguard import TOKEN_REQUEST, DryRunGuard, GuardedTransport

RETRYABLE = frozenset({500, 502, 503, 504})
MAX_RETRIES = 6  # 5xx, timeouts, connection errors: ~24 s of backoff at most
WAIT_BUDGET = 300.0  # seconds one call may spend waiting on rate limits and backoff


@dataclass
class ClientStats:
    """What the client did, for step results and benchmarks. Updated under a lock.

    Every update also goes to the tallies open in the calling thread (``tally``),
    so one search reports its own requests even while other threads share the client.
    """

    requests: int = 0
    retries: int = 0
    throttled: int = 0  # 429s received
    waited_s: float = 0.0
    tokens: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **amounts: float) -> None:
        for stats in (self, *_TALLIES.get()):
            with stats._lock:
                for name, amount in amounts.items():
                    setattr(stats, name, getattr(stats, name) + amount)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self.requests,
                "retries": self.retries,
                "throttled": self.throttled,
                "waited_s": round(self.waited_s, 3),
            }


_TALLIES: ContextVar[tuple[ClientStats, ...]] = ContextVar("soar_auth0_tallies", default=())


@contextmanager
def tally() -> Iterator[ClientStats]:
    """Count what Auth0 clients do in this thread (and context) inside the ``with`` block."""
    stats = ClientStats()
    reset = _TALLIES.set((*_TALLIES.get(), stats))
    try:
        yield stats
    finally:
        _TALLIES.reset(reset)


@dataclass
class _Attempt:
    """One logical call's retry state: requests sent, retries used, seconds waited (the budget)."""

    method: str
    path: str
    attempts: int = 0
    retries: int = 0
    waited: float = 0.0

    def where(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "attempt": self.attempts}


def quote_id(value: str) -> str:
    """One path segment: ``auth0|abc`` -> ``auth0%7Cabc``; ``/``, ``?``, ``#`` cannot escape it.

    ``.`` and ``..`` are refused: they are dot-segments that URL normalisation
    resolves (``/users/../logs`` is ``/logs``), and no Auth0 id looks like them.
    """
    text = str(value)
    if text.strip(".") == "":
        raise ActionError(f"not a valid Auth0 id: {text!r}")
    return urllib.parse.quote(text, safe="")


class Auth0Client:
    """One tenant's Management API. ``request``/``get`` take paths below ``/api/v2``."""

    def __init__(
        self,
        settings: Auth0Settings,
        *,
        guard: DryRunGuard,
        transport: httpx.BaseTransport | None = None,
        on_secret: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        max_retries: int = MAX_RETRIES,
        wait_budget: float = WAIT_BUDGET,
    ) -> None:
        self.settings = settings
        self.guard = guard
        self.on_secret = on_secret or (lambda _v: None)
        self.sleep = sleep
        self.clock = clock
        self.wall = wall
        self.max_retries = max_retries
        self.wait_budget = wait_budget
        self.stats = ClientStats()
        self.pacer = Pacer(clock=clock, wall=wall)
        self._token: str | None = settings.token.reveal() if settings.token else None
        self._token_expires = float("inf") if settings.token else 0.0
        self._token_lock = threading.Lock()
        limits = httpx.Limits(
            max_connections=settings.max_connections,
            max_keepalive_connections=settings.max_connections,
        )
        self.http = httpx.Client(
            base_url=settings.base_url,
            # the pool's limits belong to the transport: httpx ignores a Client's `limits`
            # once a transport is given, and SOAR_HTTP_MAX_CONNECTIONS would bound nothing
            transport=GuardedTransport(
                guard, transport or httpx.HTTPTransport(limits=limits), tenant=True
            ),  # its GETs read the tenant
            timeout=settings.timeout,
            headers={"User-Agent": "soar/0.1 (+incident response)"},
            follow_redirects=False,  # a redirect must not carry the bearer token elsewhere
        )
        # the redactor learns every secret this client holds before any request is made
        if settings.client_secret is not None:
            self.on_secret(settings.client_secret.reveal())
        if self._token:
            self.on_secret(self._token)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Auth0Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- token -----------------------------------------------------------------
    def authenticate(self) -> None:
        """Obtain the access token now (once; it is then reused), to fail before a run starts."""
        self._get_token()

    def adopt_token(self, other: Auth0Client) -> None:
        """Use the token ``other`` obtained for the same settings: one token request per run."""
        if other.settings.base_url == self.settings.base_url and other._token is not None:
            self._token, self._token_expires = other._token, other._token_expires
            self.on_secret(other._token)

    def _get_token(self, stale: str | None = None) -> str:
        """The cached token, or a new one when it expires or is ``stale`` (refused with 401).

        Threads that met the same 401 renew once: the first fetches, the others
        find a token different from the one they saw refused.
        """
        with self._token_lock:
            fresh = self._token is not None and self._token != stale
            if fresh and self.clock() < self._token_expires:
                assert self._token is not None
                return self._token
            token, ttl = self._fetch_token()
            self.on_secret(token)  # the redactor learns it before anything can print it
            self.stats.add(tokens=1)
            events.token(ttl)
            self._token = token
            # renew shortly before expiry: 10 s, or a tenth of a short lifetime
            self._token_expires = self.clock() + max(ttl - min(10.0, ttl / 10), 0.0)
            return token

    def _fetch_token(self) -> tuple[str, float]:
        if self.settings.client_secret is None or not self.settings.client_id:
            raise UpstreamError(
                "GET", "/api/v2", 401, "the API refused AUTH0_TOKEN", hint=STATIC_BEARER_HINT
            )
        body = {
            "grant_type": "client_credentials",
            "client_id": self.settings.client_id,
            "client_secret": self.settings.client_secret.reveal(),
            "audience": self.settings.audience,
        }
        call = _Attempt("POST", TOKEN_PATH)
        while True:
            response = self._send(call, json=body, extensions={TOKEN_REQUEST: True})
            if response is None:
                continue
            status = response.status_code
            if status == 200:
                return parse_token(response)
            if status == 429:
                self.stats.add(throttled=1)
                self._wait(call, spread(reset_in(response, self.wall())), "rate_limited", status)
                continue
            if status in RETRYABLE and call.retries < self.max_retries:
                self._backoff(call, "server_error", status)
                continue
            error = token_error(response)
            events.refused(call.where(), "tenant", status)
            raise error  # the one place a token error is raised

    # -- requests --------------------------------------------------------------
    def _send(
        self,
        call: _Attempt,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> httpx.Response | None:
        """Send once; a transport error (timeouts included) backs off and gives None."""
        self.stats.add(requests=1)
        call.attempts += 1
        try:
            return self.http.request(
                call.method,
                call.path,
                params=params,
                json=json,
                headers=headers,
                extensions=extensions or {},
            )
        except DryRunViolation:
            events.refused(call.where(), "dry_run_guard", None)
            raise
        except httpx.TransportError as exc:  # TimeoutException is one
            untrusted = _untrusted_certificate(exc)
            if untrusted is not None:  # retrying cannot help: the same certificate comes back
                events.failed(call.where(), "untrusted_certificate")
                raise UpstreamError(
                    call.method,
                    call.path,
                    None,
                    f"the TLS certificate of {self.settings.host} is not trusted ({untrusted})",
                    hint="point SSL_CERT_FILE at the CA that signed it "
                    "(for `soar emulator --tls`, the SSL_CERT_FILE it printed)",
                ) from None
            if call.retries >= self.max_retries:
                what = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
                events.failed(call.where(), "connection", error=type(exc).__name__)
                raise UpstreamError(
                    call.method,
                    call.path,
                    None,
                    f"connection {what} ({type(exc).__name__}) after {call.retries + 1} attempts",
                    hint=f"check that {self.settings.host} is reachable, or raise SOAR_HTTP_TIMEOUT",
                ) from None
            self._backoff(call, "connection", None)
            return None

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        ok: tuple[int, ...] = (200, 201, 202, 204),
    ) -> httpx.Response:
        """One API call with pacing, retries and token renewal; errors raise ``UpstreamError``."""
        call = _Attempt(method, "/api/v2" + path)
        renewed = False
        while True:
            delay = self.pacer.delay()
            while delay > 0:
                self._wait(call, delay, PACING)
                delay = self.pacer.delay()
            try:
                token = self._get_token()
                response = self._send(
                    call, params=params, json=json, headers={"Authorization": f"Bearer {token}"}
                )
            except BaseException:
                self.pacer.release()
                raise
            if response is None:
                self.pacer.release()
                continue
            h = response.headers
            self.pacer.observe(
                h.get("x-ratelimit-remaining"),
                h.get("x-ratelimit-limit"),
                h.get("x-ratelimit-reset"),
            )
            status = response.status_code
            if status in ok:
                return response
            if status == 429:
                self.stats.add(throttled=1)
                self._wait(call, spread(self.pacer.throttled()), "rate_limited", status)
                continue
            if status == 401 and not renewed and self.settings.client_secret is not None:
                renewed = True  # expired or revoked: one new token, then the error stands
                events.renewed(call.where())
                self._get_token(stale=token)
                continue
            if status in RETRYABLE and call.retries < self.max_retries:
                self._backoff(call, "server_error", status)
                continue
            self._fail(call, response)

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET and decode JSON (None for an empty or non-JSON body)."""
        return json_any(self.request("GET", path, params=params))

    def _backoff(self, call: _Attempt, reason: str, status: int | None) -> None:
        call.retries += 1
        self.stats.add(retries=1)
        self._wait(call, backoff(call.retries, 0.25, 8.0), reason, status)

    def _wait(self, call: _Attempt, seconds: float, reason: str, status: int | None = None) -> None:
        """Sleep within the call's wait budget: one ``auth0.wait`` (pacing) or ``auth0.retry`` event."""
        where = call.where()
        if reason == PACING:
            where["attempt"] += 1  # the attempt about to go; a retry's is the one that failed
        if call.waited + seconds > self.wait_budget:
            events.failed(
                where, "wait_budget", cause=reason, status=status, waited_s=round(call.waited, 3)
            )
            raise RateLimitError(
                call.method,
                call.path,
                429,
                f"still rate-limited or failing after waiting {call.waited:.0f}s",
                "too_many_requests",
                "narrow the search window, or retry later when the tenant's rate limit allows",
            )
        events.waiting(where, seconds, reason, status)
        self.sleep(seconds)
        call.waited += seconds
        self.stats.add(waited_s=seconds)

    def _fail(self, call: _Attempt, response: httpx.Response) -> None:
        """The one place an API error is raised."""
        error = api_error(
            call.method, call.path, response, static_token=self.settings.client_secret is None
        )
        where, message = call.where(), error.upstream_message
        events.refused(where, "tenant", error.status, error.error_code, message=message)
        raise error


def client_from_env(
    guard: DryRunGuard,
    on_secret: Callable[[str], None] | None = None,
    env: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Auth0Client:
    """The client for the tenant named by ``AUTH0_*``; raises ``ConfigError`` naming what is missing.

    ``on_secret`` learns the client secret now and each access token as it is obtained.
    """
    settings = Auth0Settings.from_env(env)
    return Auth0Client(settings, guard=guard, on_secret=on_secret, transport=transport)


__all__ = ["Auth0Client", "ClientStats", "client_from_env", "quote_id", "tally"]


def _untrusted_certificate(exc: BaseException) -> str | None:
    """The verification message when ``exc`` comes from a certificate the client does not trust."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen.verify_message or "certificate verify failed"
        seen = seen.__cause__ or seen.__context__
    return None
