"""Responses: the rule's playbook run for a new incident, at most once, within the guardrails.

The inputs are the rule's templates (``response.inputs``) rendered in the one
sandboxed environment (``engine.expr``) over ``group`` (the group's values)
and ``incident`` (``id``, ``rule``, ``key``, ``first``, ``last``,
``evidence``): values from the stream are data and are never rendered again,
so a ``user_name`` of ``{{ 7*7 }}`` reaches the playbook as those characters.

Mode: a dry run unless the rule says ``respond: auto`` *and* ``soar serve``
runs with ``--respond auto``. An automatic run's writes are approved by
``Preapproved("rule <id> (auto)", max_targets)``: recorded in the run log as
such, and only for a write step within the rule's ``max_targets``; the
protected users (``SOAR_PROTECTED_USERS``) and the step's own guardrails
apply as in a manual run. A larger step stops ``awaiting_approval`` for a
person (``soar resume RUNLOG --yes``).

At most once: the response row goes ``started`` (committed) before the run
begins; after a crash a started row is reported ``interrupted`` with its run
log and never run again (``engine.serve.incidents``).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import structlog

from engine.actions.registry import ActionRegistry
from engine.audit.redact import Redactor
from engine.audit.signing import Signer
from engine.errors import SoarError
from engine.expr.templates import render_value
from engine.playbook.loader import load_playbook
from engine.playbook.model import Playbook
from engine.run.approval import Preapproved
from engine.run.executor import run_playbook
from engine.run.state import Auth0Factory
from engine.secrets import Secret
from engine.serve import incidents
from engine.serve.incidents import Incident

RESPONSE_THREADS = 2  # responses run beside detection, never in its way
log = structlog.get_logger("soar.serve.respond")

Notify = Callable[[Incident], None]


def context(incident: Incident) -> dict[str, Any]:
    """What a rule's input templates see: ``group`` and ``incident`` (all data)."""
    return {
        "group": dict(incident.group),
        "incident": {
            "id": incident.id,
            "rule": incident.rule,
            "key": incident.key,
            "first": incident.first,
            "last": incident.last,
            "evidence": incident.evidence,
        },
    }


class Prepared(NamedTuple):
    """A response about to run: what ``Responder.prepare`` read and rendered."""

    incident: Incident
    rule: Any
    playbook: Playbook
    inputs: dict[str, Any]


class Responder:
    """Starts each new incident's response on a small thread pool, recording every step in SQLite."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        lock: threading.Lock,
        rules: Mapping[str, Any],
        *,
        respond: str,
        run_dir: Path,
        registry: ActionRegistry,
        protected_users: Sequence[str] = (),
        protected_ips: Sequence[str] = (),
        secrets: Mapping[str, str | Secret] | None = None,
        auth0_factory: Auth0Factory | None = None,
        signer: Signer | None = None,
        redactor: Redactor | None = None,
        on_outcome: Notify | None = None,
    ) -> None:
        self.conn = conn
        self.lock = lock  # the connection's lock, shared with the worker
        self.rules = rules
        self.respond = respond
        self.run_dir = run_dir
        self.registry = registry
        self.protected_users = protected_users
        self.protected_ips = protected_ips
        self.secrets = secrets or {}
        self.auth0_factory = auth0_factory
        self.signer = signer
        self.redactor = redactor
        self.on_outcome = on_outcome
        self.pool = ThreadPoolExecutor(RESPONSE_THREADS, thread_name_prefix="soar-respond")

    def mode(self, rule: Any) -> str:
        """``auto`` only where both the rule and ``--respond`` say so."""
        wants = rule.response.respond if rule.response is not None else "dry-run"
        return "auto" if wants == "auto" and self.respond == "auto" else "dry-run"

    def decide(self, detection: Any, _incident: int) -> tuple[Path, dict[str, Any], str] | None:
        """For ``incidents.record``: the response a new incident of this rule gets, if any."""
        rule = detection.rule
        if rule.response is None:
            return None
        return rule.response.playbook, {}, self.mode(rule)

    def start(self, incident: int) -> None:
        self.pool.submit(self._run, incident)

    def close(self) -> None:
        """Wait for the responses already started."""
        self.pool.shutdown(wait=True)

    def write(self, fn: Callable[..., Any], *args: Any) -> Any:
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(self.conn, *args)
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return result

    def _run(self, incident_id: int) -> None:
        try:
            if not self.write(incidents.mark_started, incident_id):
                return  # not pending any more: started once already
            self._respond(incident_id)
        except Exception as exc:  # a response's failure is recorded, never the worker's end
            log.error("response.error", incident=incident_id, error=type(exc).__name__)
            self.write(incidents.finish, incident_id, "error", f"{type(exc).__name__}: {exc}")
        self.notify(incident_id)

    def prepare(self, incident_id: int) -> Prepared | None:
        """The incident's response ready to run: its rule, playbook and inputs (stored on the
        response row). None when it cannot run, its outcome recorded (``error``)."""
        with self.lock:
            incident = incidents.get_incident(self.conn, incident_id)
        assert incident is not None and incident.response is not None
        rule = self.rules.get(incident.rule)
        if rule is None or rule.response is None:
            why = f"rule {incident.rule!r} is no longer loaded (--detections): nothing was run"
            self.write(incidents.finish, incident_id, "error", why)
            return None
        try:
            playbook = load_playbook(rule.response.playbook, self.registry)
            inputs = render_value(dict(rule.response.inputs), context(incident))
        except SoarError as exc:
            self.write(incidents.finish, incident_id, "error", str(exc))
            return None
        self.write(_set_inputs, incident_id, inputs)
        return Prepared(incident, rule, playbook, inputs)

    def _respond(self, incident_id: int) -> None:
        prepared = self.prepare(incident_id)
        if prepared is None:
            return
        incident, rule, playbook, inputs = prepared
        assert incident.response is not None
        mode = incident.response["mode"]
        approve = None
        if mode == "auto":
            approve = Preapproved(f"rule {rule.id} (auto)", rule.response.max_targets)
        seen: dict[str, bool] = {}

        def first_record(rec: dict[str, Any]) -> None:
            if not seen:
                seen["run_log"] = True
                path = str(self.run_dir / f"{rec['run_id']}.jsonl")
                self.write(incidents.set_run_log, incident_id, path)

        log.info("response.started", incident=incident_id, rule=rule.id, mode=mode)
        result = run_playbook(
            playbook,
            inputs,
            registry=self.registry,
            dry_run=mode != "auto",
            approve=approve,
            run_dir=self.run_dir,
            auth0_factory=self.auth0_factory,
            protected_users=self.protected_users,
            protected_ips=self.protected_ips,
            secrets=self.secrets,
            operator=f"soar serve: rule {rule.id}",
            on_event=first_record,
            signer=self.signer,
            redactor=self.redactor,
        )
        self.write(incidents.set_run_log, incident_id, str(result.run_log))
        self.write(incidents.finish, incident_id, result.status, result.error)
        log.info("response.finished", incident=incident_id, status=result.status)

    def notify(self, incident_id: int) -> None:
        if self.on_outcome is None:
            return
        with self.lock:
            incident = incidents.get_incident(self.conn, incident_id)
        if incident is not None:
            self.on_outcome(incident)


def _set_inputs(conn: sqlite3.Connection, incident: int, inputs: Mapping[str, Any]) -> None:
    import json

    conn.execute(
        "UPDATE responses SET inputs = ? WHERE incident = ?",
        (json.dumps(inputs, sort_keys=True, default=str), incident),
    )
