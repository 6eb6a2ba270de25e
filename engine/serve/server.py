"""``soar serve`` assembled: the state, the worker, the responder, the notifier, uvicorn.

``serve(options, rules, detector)`` opens the state in ``options.state``,
recovers (``engine.serve.worker``), binds the socket and prints
``listening on http://HOST:PORT`` (the real port when 0 was asked), flushed,
then serves until SIGINT or SIGTERM. Shutdown is graceful: uvicorn stops
accepting and finishes the requests in flight (their batches are stored and
answered), the worker runs the detector over every stored event, the
responses already started finish, queued notifications are sent.

With ``Options.temporal`` (``--engine temporal``) the responses are incident
workflows on ``soar worker`` (``engine.serve.durable``): they outlive this
process, and a restart follows them again instead of marking them interrupted.

Server limits: ``engine.serve.limits`` (connections at once, keep-alive, the
grace for requests in flight at shutdown, header size).
"""

from __future__ import annotations

import contextlib
import signal
import socket
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import structlog
import uvicorn

from engine.actions.registry import ActionRegistry
from engine.audit.redact import Redactor
from engine.audit.signing import Signer
from engine.run.state import Auth0Factory
from engine.secrets import Secret
from engine.serve import store
from engine.serve.app import Endpoint, build_app
from engine.serve.incidents import Incident, get_incident
from engine.serve.limits import (
    CONCURRENCY,
    GRACE,
    HEADER_BYTES,
    KEEP_ALIVE,
    MAX_BODY,
    QUEUE_EVENTS,
)
from engine.serve.notify import Notifier, opened_message, outcome_message
from engine.serve.respond import Responder
from engine.serve.worker import Backlog, Worker
from engine.serve.writer import GroupWriter

log = structlog.get_logger("soar.serve")


@dataclass
class Options:
    """How ``soar serve`` was asked to run (the CLI's options, checked)."""

    host: str = "127.0.0.1"
    port: int = 8787
    tokens: Sequence[Secret] = ()
    viewers: Sequence[Secret] = ()  # --viewer-token: may read the /incidents pages only
    state: Path = Path("soar-state")
    run_dir: Path = Path("runs")
    respond: str = "dry-run"
    registry: ActionRegistry | None = None
    protected_users: Sequence[str] = ()
    protected_ips: Sequence[str] = ()
    secrets: Mapping[str, str | Secret] = field(default_factory=dict)
    auth0_factory: Auth0Factory | None = None
    webhook: Secret | None = None
    queue_events: int = QUEUE_EVENTS
    max_body: int = MAX_BODY
    signer: Signer | None = None  # signs the responses' run logs
    redactor: Redactor | None = None  # the operational log's: masks the tokens in run logs too
    # --engine temporal: responses are incident workflows on soar worker (engine.serve.durable)
    temporal: str | None = None  # HOST:PORT of the Temporal frontend; None: the local engine
    namespace: str = "default"
    task_queue: str = "soar"


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (IPv6 when ``host`` is an IPv6 address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(1024)  # connections queue from now on: the line below may be acted on at once
    return sock


def shown_address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class Service:
    """The running parts of one ``soar serve``, started and stopped in order."""

    def __init__(self, options: Options, rules: Sequence[Any], detector: Any) -> None:
        from engine.actions import default_registry

        self.options = options
        self.notifier = Notifier(options.webhook) if options.webhook is not None else None
        self.events = store.EventStore(store.connect(options.state))
        seq, _ = self.events.cursor()
        self.backlog = Backlog(options.queue_events, self.events.tail(), seq)
        common: dict[str, Any] = {
            "respond": options.respond,
            "run_dir": options.run_dir,
            "registry": options.registry or default_registry(),
            "protected_users": options.protected_users,
            "protected_ips": options.protected_ips,
            "secrets": options.secrets,
            "auth0_factory": options.auth0_factory,
            "signer": options.signer,
            "redactor": options.redactor,
            "on_outcome": self._outcome,
        }
        parts = (store.connect(options.state), threading.Lock(), {rule.id: rule for rule in rules})
        on_update: Callable[[int], None] | None = None
        resumable: Callable[[sqlite3.Connection], list[int]] | None = None
        if options.temporal is None:
            self.responder = Responder(*parts, **common)
        else:  # imported only here: Temporal's SDK is an extra
            from engine.serve import durable

            remote = durable.TemporalResponder(
                *parts,
                address=options.temporal,
                namespace=options.namespace,
                task_queue=options.task_queue,
                **common,
            )
            self.responder, on_update, resumable = remote, remote.update, durable.resumable
        self.worker = Worker(
            store.connect(options.state),
            self.events,
            detector,
            self.backlog,
            decide=self.responder.decide,
            start=self.responder.start,
            on_open=self._opened,
            on_update=on_update,
            resumable=resumable,
        )
        self.writer = GroupWriter(self.events, self.backlog)
        self.endpoint = Endpoint(
            options.tokens,
            self.events,
            self.backlog,
            self.writer,
            self.worker,
            options.max_body,
            viewers=options.viewers,
            state=options.state,
        )

    def _opened(self, incident: Incident) -> None:
        if self.notifier is not None:
            self.notifier.post(opened_message(incident.as_json()))

    def _outcome(self, incident: Incident) -> None:
        if self.notifier is not None and incident.response is not None:
            self.notifier.post(outcome_message(incident.as_json(), incident.response))

    def start(self) -> None:
        self.writer.start()
        for incident_id in self.worker.begin():  # interrupted by the last stop: said once
            with self.worker.lock:
                incident = get_incident(self.worker.conn, incident_id)
            if incident is not None:
                self._outcome(incident)

    def stop(self) -> None:
        """After the server stopped: store what is queued, detect every stored event, finish
        responses and notices."""
        self.writer.close()
        self.worker.stop()
        self.responder.close()
        if self.notifier is not None:
            self.notifier.close()


class _Server(uvicorn.Server):
    """uvicorn's server, but a SIGINT or SIGTERM ends ``server.run`` instead of the process.

    uvicorn raises the signal again once it has shut down (so the process dies
    of it); ``serve`` still has the stored batches to detect and the responses
    to finish, and then exits 0.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        before = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in before.items():
                signal.signal(sig, handler)


def _server(service: Service) -> _Server:
    """uvicorn for ``service``'s endpoint, with the limits of ``engine.serve.limits``."""
    config = uvicorn.Config(
        build_app(service.endpoint),
        log_config=None,
        access_log=False,
        limit_concurrency=CONCURRENCY,
        timeout_keep_alive=KEEP_ALIVE,
        timeout_graceful_shutdown=GRACE,
        h11_max_incomplete_event_size=HEADER_BYTES,
        server_header=False,
        lifespan="off",
    )
    return _Server(config)


def serve(
    options: Options,
    rules: Sequence[Any],
    detector: Any,
    out: TextIO | None = None,
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Run ``soar serve`` until a signal; see the module docstring."""
    out = out or sys.stdout
    service = Service(options, rules, detector)
    sock = bind(options.host, options.port)
    server = _server(service)
    service.start()
    address = shown_address(sock)
    out.write(f"listening on {address}\n")
    out.flush()
    if on_listening is not None:
        on_listening(address)
    log.info("serve.listening", address=address, rules=len(rules), respond=options.respond)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        service.stop()
        log.info("serve.stopped", stored=service.backlog.tail, consumed=service.backlog.consumed)


@contextlib.contextmanager
def running(options: Options, rules: Sequence[Any], detector: Any) -> Iterator[tuple[Service, str]]:
    """``soar serve`` in a thread of this process, for a stream drill: the service and its URL.

    Leaving the block stops it as a signal does: the server finishes the
    requests in flight, the worker detects every stored event, the responses
    already started finish.
    """
    service = Service(options, rules, detector)
    sock = bind(options.host, options.port)
    server = _server(service)
    service.start()
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="soar-serve", daemon=True
    )
    thread.start()
    try:
        yield service, shown_address(sock)
    finally:
        server.should_exit = True
        thread.join()
        sock.close()
        service.stop()
