"""The built-in Auth0 tenant emulator: ``start_emulator(...)`` runs one in a background thread.

Used by ``soar emulator``, ``soar demo``, drills and the test suite (port 0
picks a free port). See ``engine.emulator.server`` for the HTTP behaviour and
``engine.emulator.scenarios`` for the generated tenants and their truth.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.emulator.logstore import LogStore
from engine.emulator.scenarios import generate
from engine.emulator.server import EmulatorServer
from engine.emulator.tenant import Tenant, user_record
from engine.emulator.tls import create_server_tls
from engine.errors import EmulatorError


class RunningEmulator:
    """A served tenant. Use as a context manager, or call ``stop()``."""

    def __init__(self, server: EmulatorServer, truth: dict[str, Any]) -> None:
        self.server = server
        self.truth = truth
        self.tenant: Tenant = server.tenant
        self._thread = threading.Thread(
            target=server.serve_forever, name="soar-emulator", daemon=True
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        return self.server.base_url

    domain = base_url

    @property
    def audience(self) -> str:
        return f"{self.base_url}/api/v2/"

    @property
    def client_id(self) -> str:
        return self.tenant.client_id

    @property
    def client_secret(self) -> str:
        return self.tenant.client_secret

    @property
    def journal(self) -> list[dict[str, Any]]:
        return self.tenant.journal

    @property
    def stats(self) -> Any:
        return self.tenant.stats

    @property
    def ca_file(self) -> Path | None:
        """The CA certificate a client must trust, for an emulator started with ``tls=True``."""
        return self.server.tls.ca_file if self.server.tls else None

    def env(self) -> dict[str, str]:
        """The settings that point a client at this tenant.

        Over TLS the domain is the bare ``host:port`` (the SDKs prepend ``https://``
        themselves) and ``SSL_CERT_FILE`` names the throwaway CA to trust.
        """
        tls = self.server.tls
        env = {
            "AUTH0_DOMAIN": self.base_url.split("://", 1)[1] if tls else self.base_url,
            "AUTH0_CLIENT_ID": self.client_id,
            "AUTH0_CLIENT_SECRET": self.client_secret,
        }
        if tls is not None:
            env["SSL_CERT_FILE"] = str(tls.ca_file)
        return env

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _file_tenant(path: Path) -> tuple[LogStore, dict[str, dict[str, Any]], dict[str, Any]]:
    """An exported log file as a tenant: its events, the users they name, an empty truth.

    The file is streamed into the store (no list of a million dicts); each
    user_id seen becomes a user shaped like Auth0's, named by its first user_name.
    """
    from engine.logs.files import iter_events

    users: dict[str, dict[str, Any]] = {}

    def collect() -> Iterator[dict[str, Any]]:
        for event in iter_events(path):
            uid = event.get("user_id")
            if uid and isinstance(uid, str) and uid not in users:
                users[uid] = _file_user(uid, event)
            yield event

    store = LogStore(collect())
    # a served file has no known attack: the truth keeps its shape with nothing in it
    truth: dict[str, Any] = {
        "scenario": f"file:{path}",
        "seed": None,
        "now": None,
        "events": len(store),
        "attacker_ips": [],
        "compromised_users": [],
        "compromised_user_names": {},
        "accessed_clients": {},
        "hijacked_admins": [],
        "legitimate_users": sorted(users),
    }
    return store, users, truth


def _file_user(uid: str, event: dict[str, Any]) -> dict[str, Any]:
    name = event.get("user_name")
    email = name if isinstance(name, str) and "@" in name else None
    return user_record(
        uid, event.get("date"), email=email, username=None if email else name, name=name
    )


def _check_settings(
    rate_limit: tuple[int, float], fail_rate: float, latency_ms: float, token_ttl: float
) -> None:
    burst, rate = rate_limit
    if burst < 1 or not rate > 0:
        raise EmulatorError(f"rate limit {burst}/{rate}: the burst must be >= 1 and the rate > 0")
    if not 0.0 <= fail_rate <= 1.0:
        raise EmulatorError(f"fail rate {fail_rate}: use a fraction between 0 and 1 (0.1 = 10%)")
    if not latency_ms >= 0:
        raise EmulatorError(f"latency {latency_ms} ms: must be 0 or more")
    if not token_ttl > 0:
        raise EmulatorError(f"token lifetime {token_ttl} s: must be more than 0")


def start_emulator(
    *,
    scenario: str = "credential-stuffing",
    seed: int = 1,
    events: int | None = None,
    rate_limit: tuple[int, float] = (10, 20.0),
    fail_rate: float = 0.0,
    latency_ms: float = 0.0,
    token_ttl: float = 86400.0,
    host: str = "127.0.0.1",
    port: int = 0,
    client_id: str | None = None,
    client_secret: str | None = None,
    now: datetime | None = None,
    logs_file: Path | None = None,
    journal_path: Path | None = None,
    tls: bool = False,
    ca_file: Path | None = None,
) -> RunningEmulator:
    """Generate (or load) a tenant and serve it; returns once the server accepts requests.

    Raises ``ValueError`` naming the setting for an impossible one (a fail rate
    outside 0..1, a negative latency, a rate limit or token lifetime not above 0).
    With ``tls`` it serves HTTPS with a throwaway CA, written to ``ca_file`` (or a
    private temporary folder): see ``engine.emulator.tls``.
    """
    _check_settings(rate_limit, fail_rate, latency_ms, token_ttl)
    blocks: dict[str, list[dict[str, Any]]] = {}
    if logs_file is not None:
        store, users, truth = _file_tenant(logs_file)
    else:
        generated = generate(scenario, seed=seed, events=events, now=now)
        store = LogStore(generated.events)
        users, truth, blocks = generated.users, generated.truth, generated.user_blocks
    tenant = Tenant(
        logs=store,
        users=users,
        client_id=client_id or secrets.token_urlsafe(24),
        client_secret=client_secret or secrets.token_urlsafe(48),
        token_ttl=token_ttl,
        user_blocks=blocks,
        journal_path=journal_path,
    )
    server = EmulatorServer(
        (host, port),
        tenant,
        rate_limit=rate_limit,
        fail_rate=fail_rate,
        latency_ms=latency_ms,
        seed=seed,
        tls=create_server_tls(host, ca_file) if tls else None,
    )
    return RunningEmulator(server, truth)


__all__ = ["RunningEmulator", "start_emulator"]
