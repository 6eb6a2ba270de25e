"""What a Temporal run is, as its payloads carry it: small values, never events or secrets.

A run's workflow id is its run id, so starting the same run twice is refused by
the server. Its inputs, the playbook's path and digest and the operator's
choices travel in ``RunSpec``; what the run finds stays in its run folder
(the log, its event store, its outputs file), which every worker and the
submitting client reach by the same name (shared storage): a Temporal payload
is limited to 2 MB, a triage's events are not. ``Segment`` is how one part of
a run ended; its outputs come inline only while small, else by reference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import ConfigError

if TYPE_CHECKING:
    from engine.run.guardrails import Target

WORKFLOW = "soar.run"
# the activities: each one effect of a run (engine.temporal.effects)
START, PREPARE, APPEND, INPUTS = "soar.start", "soar.prepare", "soar.append", "soar.inputs"
CALL, PLAN, LOG_CALL, SEND = "soar.call", "soar.plan", "soar.log_call", "soar.send"
LOG_RESULT, LOG_FAILED = "soar.log_result", "soar.log_failed"
FINISH_STEP, FINISH, RESUMED = "soar.finish_step", "soar.finish", "soar.resumed"
DECIDE = "decide"  # the signal of soar approve
STATE = "state"  # the query a following client asks
INLINE_OUTPUTS = 256 * 1024  # characters of JSON; larger outputs go in <run_id>.outputs.json


def connect_config(address: str, namespace: str) -> dict[str, Any]:
    """``Client.connect``'s arguments: Temporal's own environment configuration (a profile of
    ``temporal.toml``, ``TEMPORAL_TLS*``, ``TEMPORAL_API_KEY``: Temporal Cloud's mTLS or API
    key), with the address and namespace given on the command line."""
    from temporalio.envconfig import ClientConfig

    config: dict[str, Any] = dict(ClientConfig.load_client_connect_config())
    config.update(target_host=address, namespace=namespace)
    return config


COMMANDS = {"ran": False}  # whether this process ran a Temporal command (require_sdk)


def failure_cause(exc: BaseException) -> str:
    """The innermost message of a workflow's failure (the segment's own error, one line)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    message = getattr(exc, "message", None) or str(exc)
    return " ".join(str(message).split())[:500]


def require_sdk() -> None:
    """Refuse clearly when the ``temporal`` extra (Temporal's SDK) is not installed; else
    note that this process runs a Temporal command (``engine.cli.main`` ends it without
    the interpreter's teardown then: ``sdk_used``)."""
    try:
        import temporalio  # noqa: F401 -- only whether it is there
    except ImportError:
        raise ConfigError(
            "the Temporal engine needs the temporal extra: pip install 'soar[temporal]'"
        ) from None
    COMMANDS["ran"] = True


def sdk_used() -> bool:
    """Whether a Temporal command ran in this process (not merely the SDK imported)."""
    return COMMANDS["ran"]


@dataclass
class RunSpec:
    """One run as submitted: what the local engine's ``run_playbook`` is given, as plain data.

    ``playbook`` is an absolute path every worker reads, checked against
    ``sha256`` before the run starts or continues. ``protected_users`` and
    ``protected_ips`` are the submitter's; each worker adds its own
    (``SOAR_PROTECTED_USERS``, ``SOAR_PROTECTED_IPS``). ``approval_timeout_s``:
    how long the run waits for ``soar approve`` before the deadline denies.
    ``heartbeat_s``: how long a silent worker is trusted before its part of
    the run moves to another worker.
    """

    run_id: str
    playbook: str
    sha256: str
    inputs: dict[str, Any]
    operator: str
    dry_run: bool = False
    yes: bool = False
    logs_file: str | None = None
    cache: bool = True
    protected_users: list[str] = field(default_factory=list)
    protected_ips: list[str] = field(default_factory=list)
    approval_timeout_s: float = 24 * 3600.0
    heartbeat_s: float = 10.0


@dataclass
class Segment:
    """How one part of a run ended: the local engine's ``RunResult``, small.

    ``awaiting``: the step, action, targets and reason of the approval it stopped
    for (``reason: unknown_outcome``: writes cut off in flight). ``outputs`` is
    inline when its JSON is under ``INLINE_OUTPUTS`` characters; otherwise
    ``outputs_file`` names the file in the run folder that holds it.
    """

    run_id: str
    status: str
    dry_run: bool
    run_log: str
    final_hash: str
    error: str | None = None
    outputs: dict[str, Any] | None = None
    outputs_file: str | None = None
    awaiting: dict[str, Any] | None = None
    records: int = 0  # the log's records when this part ended (where the next append goes)


def outputs_path(run_log: Path) -> Path:
    """``runs/<id>.jsonl`` -> ``runs/<id>.outputs.json``."""
    return run_log.with_name(run_log.stem + ".outputs.json")


def read_outputs(segment: Segment, run_dir: Path) -> dict[str, Any]:
    """A segment's outputs: inline, or from its file under ``run_dir`` (the reader's mount)."""
    if segment.outputs_file is None:
        return dict(segment.outputs or {})
    value = json.loads((run_dir / Path(segment.outputs_file).name).read_text(encoding="utf-8"))
    return dict(value) if isinstance(value, dict) else {}


@dataclass
class StepInfo:
    """What the workflow needs of a step to drive it: never its templates, which workers render."""

    id: str
    action: str
    max_targets: int
    continue_on_error: bool
    max_parallel: int
    timeout_s: float | None
    idempotent: bool


@dataclass
class Opened:
    """A run whose ``run.started`` is logged: its steps, the gates' settings, the log's length.

    ``protected_users`` / ``protected_ips``: the submitter's and the worker's,
    checked by the workflow before any send; ``plan_writes``: a dry or
    offline run, which plans its writes.
    """

    seq: int
    tenant: str
    steps: list[StepInfo]
    protected_users: list[str]
    protected_ips: list[str]
    plan_writes: bool


@dataclass
class StepPlan:
    """A step prepared on a worker: ``status`` ``ready`` (its calls to make) or how it ended
    (``skipped``, ``succeeded`` when replayed, ``failed`` with ``error``).

    ``keys``: each call's identity when it writes or plans; ``targets``: each write call's
    target as resolved (``target_data``), for the guardrails and the approval.
    """

    seq: int
    status: str
    calls: int = 0
    write: bool = False
    keys: list[str] = field(default_factory=list)
    targets: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


@dataclass
class CallResult:
    """One call's answer: ``ok``, or its one-line ``error`` and ``wait`` before trying again
    (None: no retry left). A send: ``unknown`` when an earlier attempt was cut off and the
    write may not be sent again without an operator; ``redelivered`` the earlier attempt
    recognised by the idempotency key (its attempt, host and pid)."""

    ok: bool
    error: str | None = None
    wait: float | None = None
    unknown: bool = False
    redelivered: dict[str, Any] | None = None


def target_data(target: Target) -> dict[str, Any]:
    """A write call's resolved target as a payload (``target_from`` reads it back)."""
    return {
        "index": target.index,
        "value": target.value,
        "record": target.record,
        "names": sorted(target.names),
        "details": dict(target.details),
        "note": target.note,
        "addresses": list(target.addresses),
    }


def target_from(data: dict[str, Any]) -> Target:
    """The ``Target`` a ``target_data`` payload describes."""
    from engine.run.guardrails import Target

    return Target(
        int(data["index"]),
        str(data["value"]),
        str(data["record"]),
        frozenset(data.get("names") or ()),
        dict(data.get("details") or {}),
        data.get("note"),
        tuple(data.get("addresses") or ()),
    )
