"""The tenant checked before a run starts: its settings, then one request within seconds.

A run that cannot reach its tenant, or whose credentials the tenant refuses,
says so before a run log exists, naming the setting to fix, instead of
failing its first step after a run log was written. With client credentials
the check is the run's own token request (the run then uses that token);
with a ready ``AUTH0_TOKEN`` it is one unauthenticated request, which any
answer passes. A tenant that answers 5xx is left to the run's retries.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import NoReturn

import httpx

from engine.auth0.client import Auth0Client
from engine.auth0.settings import Auth0Settings
from engine.errors import ConfigError, UpstreamError
from engine.httpguard import DryRunGuard

CHECK_TIMEOUT = 5.0  # seconds: an operator waits this long at most to hear the tenant is away
RATE_LIMIT_WAIT = 1.0  # seconds the check waits out a 429 before saying the tenant is limiting it

Factory = Callable[[DryRunGuard, Callable[[str], None]], Auth0Client]


def checked_factory(
    on_secret: Callable[[str], None], env: Mapping[str, str] | None = None
) -> Factory:
    """Check ``AUTH0_*`` and reach the tenant now; the factory of the run's Auth0 client.

    Raises ``ConfigError`` naming the setting (a missing or malformed value, a
    credential pasted with its newline, an unreachable tenant, refused
    credentials). ``on_secret`` learns every secret before anything is sent.
    """
    settings = Auth0Settings.from_env(env)
    quick = dataclasses.replace(settings, timeout=min(settings.timeout, CHECK_TIMEOUT))
    # the token request is the only request a dry-run guard lets through unasked
    probe = Auth0Client(
        quick,
        guard=DryRunGuard(dry_run=True, read_hosts=()),
        on_secret=on_secret,
        max_retries=0,
        wait_budget=RATE_LIMIT_WAIT,  # a 429 does not hold the operator for the 300 s a call may
    )
    with probe:
        try:
            if settings.token is None:
                probe.authenticate()
            else:
                probe.http.get("/api/v2/")  # any answer shows the tenant is there
        except UpstreamError as exc:
            _refuse(settings, exc)
        except httpx.TransportError as exc:
            _unreachable(settings, type(exc).__name__)

    def make(guard: DryRunGuard, learn: Callable[[str], None]) -> Auth0Client:
        client = Auth0Client(settings, guard=guard, on_secret=learn)
        client.adopt_token(probe)
        return client

    return make


def _refuse(settings: Auth0Settings, exc: UpstreamError) -> None:
    if exc.status is None:  # no answer: refused, timed out, or a certificate not trusted
        why = f"{exc.upstream_message} ({exc.hint})" if exc.hint else exc.upstream_message
        _unreachable(settings, why)
    if exc.status == 429:  # the credentials are not the problem: the tenant's rate limit is
        raise ConfigError(
            f"the tenant {settings.host} is rate-limiting this application's token requests "
            "(HTTP 429): wait a minute, or stop what else uses these credentials, and run "
            "again; nothing was run"
        )
    if exc.status < 500:  # refused credentials, audience or grant: the hint names them
        raise ConfigError(f"the tenant {settings.host} refused the run's credentials: {exc}")


def _unreachable(settings: Auth0Settings, why: str) -> NoReturn:
    raise ConfigError(
        f"AUTH0_DOMAIN: no answer from the tenant {settings.host} (checked for "
        f"{CHECK_TIMEOUT:g} s before the run): {why}; check AUTH0_DOMAIN and the network; "
        "nothing was run"
    )
