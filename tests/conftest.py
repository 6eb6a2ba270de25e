"""Shared fixtures: real emulated Auth0 tenants on free loopback ports.

``emulator`` is one credential-stuffing tenant per test module (reads only;
tests that write start their own with ``start_emulator``). ``auth0_client``
builds a client for any running emulator with explicit settings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from engine.auth0 import Auth0Client, Auth0Settings
from engine.emulator import RunningEmulator, start_emulator
from engine.httpguard import DryRunGuard


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
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
