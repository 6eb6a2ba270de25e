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
from typing import Any

from engine.errors import ConfigError

WORKFLOW = "soar.run"
SEGMENT = "soar.segment"
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


def failure_cause(exc: BaseException) -> str:
    """The innermost message of a workflow's failure (the segment's own error, one line)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    message = getattr(exc, "message", None) or str(exc)
    return " ".join(str(message).split())[:500]


def require_sdk() -> None:
    """Refuse clearly when the ``temporal`` extra (Temporal's SDK) is not installed."""
    try:
        import temporalio  # noqa: F401 -- only whether it is there
    except ImportError:
        raise ConfigError(
            "the Temporal engine needs the temporal extra: pip install 'soar[temporal]'"
        ) from None


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


def outputs_path(run_log: Path) -> Path:
    """``runs/<id>.jsonl`` -> ``runs/<id>.outputs.json``."""
    return run_log.with_name(run_log.stem + ".outputs.json")


def read_outputs(segment: Segment, run_dir: Path) -> dict[str, Any]:
    """A segment's outputs: inline, or from its file under ``run_dir`` (the reader's mount)."""
    if segment.outputs_file is None:
        return dict(segment.outputs or {})
    value = json.loads((run_dir / Path(segment.outputs_file).name).read_text(encoding="utf-8"))
    return dict(value) if isinstance(value, dict) else {}
