"""The Auth0 Management API client: token, pacing, retries, and one error type.

Every request passes the run's ``DryRunGuard`` (only the token request is let
through in a dry run). Tokens come from the client-credentials grant, are
cached until shortly before they expire, and are renewed once when the API
answers 401. Rate limits are paced from the ``x-ratelimit-*`` headers
(``engine.auth0.pacer``); a 429 waits for the reset and retries within a wait
budget; 5xx, timeouts and connection errors retry with exponential backoff and
jitter. Any other error becomes an ``UpstreamError`` raised in ``_fail`` only.
Messages never contain a secret, a token, or a request body.
"""

from __future__ import annotations

import random
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from engine.auth0.pacer import Pacer
from engine.auth0.settings import Auth0Settings
from engine.errors import ConfigError, RateLimitError, UpstreamError
from engine.httpguard import TOKEN_REQUEST, DryRunGuard, GuardedTransport

RETRYABLE = {500, 502, 503, 504}


@dataclass
class ClientStats:
    requests: int = 0
    retries: int = 0
    throttled: int = 0  # 429s received
    waited_s: float = 0.0
    tokens: int = 0

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "retries": self.retries,
            "throttled": self.throttled,
            "waited_s": round(self.waited_s, 3),
        }


def quote_id(value: str) -> str:
    """A path segment: ``auth0|abc`` -> ``auth0%7Cabc``; ``/``, ``?``, ``#``, ``..`` cannot escape."""
    return urllib.parse.quote(str(value), safe="")


class Auth0Client:
    def __init__(
        self,
        settings: Auth0Settings,
        *,
        guard: DryRunGuard,
        transport: httpx.BaseTransport | None = None,
        on_secret: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_retries: int = 6,
        wait_budget: float = 300.0,
    ) -> None:
        self.settings = settings
        self.guard = guard
        self.on_secret = on_secret or (lambda _v: None)
        self.sleep = sleep
        self.max_retries = max_retries
        self.wait_budget = wait_budget
        self.stats = ClientStats()
        self.pacer = Pacer()
        self._token: str | None = settings.token.reveal() if settings.token else None
        self._token_expires = float("inf") if settings.token else 0.0
        self._token_lock = threading.Lock()
        self.http = httpx.Client(
            base_url=settings.base_url,
            transport=GuardedTransport(guard, transport),
            timeout=settings.timeout,
            limits=httpx.Limits(max_connections=settings.max_connections),
            headers={"User-Agent": "soar/0.1 (+incident response)"},
        )
        if self._token:
            self.on_secret(self._token)

    def close(self) -> None:
        self.http.close()

    # -- token -----------------------------------------------------------------
    def _get_token(self, force: bool = False) -> str:
        with self._token_lock:
            if self._token and not force and time.monotonic() < self._token_expires:
                return self._token
            if self.settings.token and not force:
                return self.settings.token.reveal()
            if self.settings.token:
                raise UpstreamError(
                    "GET",
                    "/api/v2",
                    401,
                    "the API refused AUTH0_TOKEN",
                    hint="AUTH0_TOKEN is invalid or expired: get a new one, or use client credentials",
                )
            assert self.settings.client_secret is not None
            body = {
                "grant_type": "client_credentials",
                "client_id": self.settings.client_id,
                "client_secret": self.settings.client_secret.reveal(),
                "audience": self.settings.audience,
            }
            response = self._send(
                "POST", "/oauth/token", json=body, extensions={TOKEN_REQUEST: True}, auth=False
            )
            if response.status_code != 200:
                self._token_error(response)
            data = response.json()
            token = str(data["access_token"])
            ttl = float(data.get("expires_in", 86400))
            self.on_secret(token)
            self.stats.tokens += 1
            # renew shortly before expiry: 10 s, or a tenth of a short lifetime
            self._token = token
            self._token_expires = time.monotonic() + ttl - min(10.0, ttl / 10)
            return token

    def _token_error(self, response: httpx.Response) -> None:
        body = _json(response)
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
        raise UpstreamError("POST", "/oauth/token", response.status_code, desc, code, hint)

    # -- requests --------------------------------------------------------------
    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        extensions: dict[str, Any] | None = None,
        auth: bool = True,
        token: str | None = None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if auth and token else {}
        self.stats.requests += 1
        return self.http.request(
            method, path, params=params, json=json, headers=headers, extensions=extensions or {}
        )

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
        api_path = "/api/v2" + path
        attempt = 0
        renewed = False
        waited = 0.0
        while True:
            delay = self.pacer.delay()
            while delay > 0:
                waited += self._wait(delay, api_path, method, waited)
                delay = self.pacer.delay()
            token = self._get_token()
            try:
                response = self._send(method, api_path, params=params, json=json, token=token)
            except httpx.TransportError as exc:  # timeouts included: TimeoutException is one
                if attempt >= self.max_retries:
                    what = (
                        "timed out"
                        if isinstance(exc, httpx.TimeoutException)
                        else "connection failed"
                    )
                    raise UpstreamError(
                        method, api_path, None, f"{what}: {type(exc).__name__}"
                    ) from None
                attempt += 1
                waited += self._backoff(attempt, api_path, method, waited)
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
                self.stats.throttled += 1
                wait_s = self.pacer.throttled() * random.uniform(1.0, 1.2)
                waited += self._wait(wait_s, api_path, method, waited)
                continue
            if status == 401 and not renewed:
                renewed = True
                self._get_token(force=True)
                continue
            if status in RETRYABLE and attempt < self.max_retries:
                attempt += 1
                waited += self._backoff(attempt, api_path, method, waited)
                continue
            self._fail(method, api_path, response)

    def _backoff(self, attempt: int, path: str, method: str, waited: float) -> float:
        self.stats.retries += 1
        delay = min(0.25 * 2 ** (attempt - 1), 8.0) * random.uniform(0.5, 1.5)
        return self._wait(delay, path, method, waited)

    def _wait(self, seconds: float, path: str, method: str, waited: float) -> float:
        if waited + seconds > self.wait_budget:
            raise RateLimitError(
                method,
                path,
                429,
                f"still rate-limited after waiting {waited:.0f}s",
                "too_many_requests",
                "narrow the search window or raise the rate limit",
            )
        self.sleep(seconds)
        self.stats.waited_s += seconds
        return seconds

    def _fail(self, method: str, path: str, response: httpx.Response) -> None:
        body = _json(response)
        message = str(
            body.get("message") or body.get("error_description") or response.reason_phrase
        )
        code = body.get("errorCode") or body.get("error")
        hint = None
        if response.status_code == 403 and code == "insufficient_scope":
            hint = f"grant the Machine-to-Machine application the scope named above ({message})"
        elif response.status_code == 401:
            hint = "the token was refused twice: check the application's grant and AUTH0_AUDIENCE"
        raise UpstreamError(
            method, path, response.status_code, message, str(code) if code else None, hint
        )

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return _json_any(self.request("GET", path, params=params))


def _json(response: httpx.Response) -> dict[str, Any]:
    value = _json_any(response)
    return value if isinstance(value, dict) else {}


def _json_any(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def client_from_env(
    guard: DryRunGuard,
    on_secret: Callable[[str], None] | None = None,
    env: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Auth0Client:
    """The client for the tenant named by ``AUTH0_*``; raises ``ConfigError`` naming what is missing."""
    settings = Auth0Settings.from_env(env)
    if settings.client_secret is not None and on_secret:
        on_secret(settings.client_secret.reveal())
    return Auth0Client(settings, guard=guard, on_secret=on_secret, transport=transport)


__all__ = ["Auth0Client", "ClientStats", "ConfigError", "client_from_env", "quote_id"]
