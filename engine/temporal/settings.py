"""What a worker holds for every run it serves, and the heartbeats of its long activities.

``WorkerSettings`` are the worker's own (its environment's), never a
payload's. ``beating`` keeps an activity's heartbeat going while a call is
in flight: a worker killed mid-call stops beating, and past the heartbeat
timeout the server gives the activity to another worker
(``engine.temporal.effects``: a send is then recognised by its idempotency key).

Nothing here imports Temporal: ``heartbeat`` is the activity's, given by the worker.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.actions.registry import ActionRegistry
    from engine.audit.redact import Redactor
    from engine.audit.signing import Signer
    from engine.run.state import Auth0Factory
    from engine.secrets import Secret

Heartbeat = Callable[..., None]


@dataclass
class WorkerSettings:
    """What a worker runs every run with: its environment's, never a payload's.

    Secrets (``SOAR_SECRET_*``, ``AUTH0_*``), the Auth0 client and the signing
    key are the worker's; protected users and addresses are the worker's
    added to the submitter's. ``redactor`` builds a fresh one per run.
    """

    run_dir: Path
    registry: ActionRegistry
    redactor: Callable[[], Redactor]
    secrets: Mapping[str, str | Secret] = field(default_factory=dict)
    protected_users: Sequence[str] = ()
    protected_ips: Sequence[str] = ()
    auth0_factory: Auth0Factory | None = None
    signer: Signer | None = None


@contextlib.contextmanager
def beating(heartbeat: Heartbeat) -> Iterator[None]:
    """Heartbeats each second while the ``with`` block runs (a queued activity's)."""
    beat = _Beat(heartbeat)
    try:
        yield
    finally:
        beat.stop()


class _Beat:
    """Heartbeats each second on a thread of its own, until ``stop``."""

    def __init__(self, heartbeat: Heartbeat) -> None:
        self.heartbeat = heartbeat
        self.done = threading.Event()
        # in a copy of this context: the activity's heartbeat is found through it
        self.thread = threading.Thread(
            target=contextvars.copy_context().run,
            args=(self._loop,),
            name="soar-heartbeat",
            daemon=True,
        )
        self.thread.start()

    def _loop(self) -> None:
        while not self.done.wait(1.0):
            self.heartbeat()

    def stop(self) -> None:
        self.done.set()
        self.thread.join(timeout=5)
