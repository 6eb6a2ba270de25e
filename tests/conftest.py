"""Shared fixtures: real emulated Auth0 tenants on free loopback ports.

``emulator`` is one credential-stuffing tenant per test module (reads only;
tests that write start their own with ``start_emulator``). ``auth0_client``
builds a client for any running emulator with explicit settings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import settings

from engine.actions.registry import ActionContext
from engine.auth0 import Auth0Client, Auth0Settings
from engine.emulator import RunningEmulator, start_emulator
from engine.httpguard import DryRunGuard

# Property tests check values, not speed (benchmarks in bench/ do that): no per-example
# deadline, which a loaded 2-core machine missed on examples that are merely slow there.
settings.register_profile("soar", deadline=None)
settings.load_profile("soar")


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    """A served credential-stuffing tenant (seed 1, ~3,000 events) on a free loopback port.

    Shared by the tests of one module, so treat it as read-only: a test that
    writes (blocks, deletes, revokes) starts its own with ``start_emulator``.
    Its rate limit is high (1000/5000) so that tests never meet a 429 by accident;
    ``base_url``, ``client_id``, ``client_secret``, ``audience``, ``truth``,
    ``journal``, ``tenant`` and ``stats`` are the attributes to use.
    """
    with start_emulator(scenario="credential-stuffing", seed=1, rate_limit=(1000, 5000.0)) as emu:
        yield emu


@pytest.fixture
def auth0_client() -> Iterator[Callable[..., Auth0Client]]:
    made: list[Auth0Client] = []

    def make(
        emu: RunningEmulator, *, dry_run: bool = False, secret: str | None = None, **kwargs: object
    ) -> Auth0Client:
        settings = Auth0Settings.create(
            emu.base_url, client_id=emu.client_id, client_secret=secret or emu.client_secret
        )
        client = Auth0Client(settings, guard=DryRunGuard(dry_run), **kwargs)  # type: ignore[arg-type]
        made.append(client)
        return client

    yield make
    for c in made:
        c.close()


@pytest.fixture
def ctx() -> Iterator[ActionContext]:
    """A context for the pure actions (data.*, ip.extract), which never use its client."""
    with httpx.Client() as http:
        yield ActionContext(dry_run=False, http=http)


@pytest.fixture
def sample_events() -> list[dict[str, Any]]:
    """A few Auth0-like events: duplicates, an IPv6 in details, an invalid IP, nulls."""
    return [
        {"ip": "203.0.113.7", "date": "2026-11-01T10:00:00.000Z", "user_id": "u1", "type": "fp"},
        {"ip": "203.0.113.7", "date": "2026-11-01T09:00:00.000Z", "user_id": "u2", "type": "fu"},
        {
            "ip": "10.0.0.8",
            "date": "2026-11-01T11:00:00.000Z",
            "user_id": "u1",
            "type": "s",
            "details": {"request": {"ip": "2001:0db8:0000:0000:0000:0000:0000:0001"}},
        },
        {"ip": "999.1.1.1", "date": "2026-11-01T12:00:00.000Z", "user_id": "", "type": "f"},
        {"ip": None, "date": "2026-11-01T12:00:00.000Z", "user_id": None},
    ]


@pytest.fixture
def auth0_ctx() -> Iterator[Callable[..., ActionContext]]:
    """An action context whose Auth0 client points at a given emulator (explicit settings)."""
    made: list[httpx.Client] = []

    def make(emu: RunningEmulator, dry_run: bool = False) -> ActionContext:
        settings = Auth0Settings.create(
            emu.base_url, client_id=emu.client_id, client_secret=emu.client_secret
        )
        guard = DryRunGuard(dry_run)
        http = httpx.Client()
        made.append(http)
        return ActionContext(
            dry_run=dry_run, http=http, auth0_factory=lambda: Auth0Client(settings, guard=guard)
        )

    yield make
    for http in made:
        http.close()
