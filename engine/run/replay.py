"""What a resumed run takes from its log: writes sent, what was shown for approval, and the reads behind them.

A write is identified by its step and occurrence, the call key ``<step>:<index>``
(``engine.run.plan.call_keys``), never by its arguments. Before a live write step
is approved, the executor logs ``step.inputs``: each call's target, arguments
and their digest (what the approval is for), and the full outputs of the read
steps the write step's templates read (``feeder_ids``), so that a resume can
see the run exactly as it was when the writes were decided.

On resume (``replay_from``):

- a write with an ``action.result`` is never sent again: its result stands,
  whatever its arguments would be now;
- read steps that fed writes already sent are not run again: their outputs
  come from that step's ``step.inputs`` (``Replay.outputs``), so the write
  step renders the same calls it rendered before;
- a write step whose calls now differ from the ones last shown for approval
  (its reads ran again and found something new) stops for a new approval
  that shows the difference (``changes``, ``describe_changes``).

Feeder outputs are not recorded when they hold a ``Secret`` (the log never
holds its value, so replaying it would send ``***``), an event set (the log
keeps its summary, not its events) or when they exceed ``MAX_SNAPSHOT``;
those steps run again on resume, and the comparison of the
arguments still stops the run if what it would send changed.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import nodes

from engine.audit.runlog import summarize
from engine.audit.show import change_lines
from engine.errors import TemplateError
from engine.expr.templates import iter_templates, parse_template, template_references
from engine.logs.eventset import EventSet
from engine.playbook.model import Step
from engine.run.outcomes import Skipped, StepOutcome, Succeeded
from engine.run.plan import call_digest, loggable
from engine.secrets import holds_secret

MAX_SNAPSHOT = 4 * 1024 * 1024  # characters of JSON of feeder outputs kept per write step
_REPLAYABLE = ("succeeded", "skipped")
Log = Callable[..., Any]


@dataclass
class Replay:
    """What an earlier part of this run already did (``soar resume``; built by ``replay_from``).

    Writes are identified by call key, ``<step>:<index>`` (``engine.run.plan.call_keys``).
    ``done``: full results of completed writes; ``unknown``: writes sent
    (``action.call``) whose outcome the log does not know; ``approved``: the
    targets each step was approved for; ``shown``: per write step, the calls of
    its last ``step.inputs`` record (what was last shown for approval);
    ``outputs``: read steps to take from the log instead of running them (they
    fed writes already sent); ``resend_unknown``: the operator checked the
    unknown writes by hand and confirmed they may be sent again.
    """

    done: dict[str, Any] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)
    approved: dict[str, set[str]] = field(default_factory=dict)
    shown: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    sent: dict[str, str] = field(default_factory=dict)  # call key -> its target as sent
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    resend_unknown: bool = False


def replay_from(records: Iterable[Mapping[str, Any]]) -> Replay:
    """Completed writes (full results), writes of unknown outcome, approvals, and reads to replay."""
    replay = Replay()
    called: set[str] = set()
    sent_to: dict[str, str] = {}
    last_inputs: dict[str, Mapping[str, Any]] = {}
    fed: dict[str, Mapping[str, Any]] = {}  # write step -> inputs of its first sent write
    granted: dict[str, list[tuple[str, str]]] = {}  # write step -> the calls its grant covered
    for rec in records:
        kind = rec.get("type")
        key = rec.get("call")
        step = str(rec.get("step"))
        if kind == "step.inputs":
            last_inputs[step] = rec
            replay.shown[step] = [c for c in rec.get("calls") or [] if isinstance(c, dict)]
            if step in granted and granted[step] != _calls_sig(replay.shown[step]):
                del granted[step]  # shown again with other calls: the old grant does not cover them
                replay.approved.pop(step, None)
        elif kind == "action.call" and isinstance(key, str):
            called.add(key)
            sent_to[key] = str(rec.get("target"))
            if step in last_inputs:
                fed.setdefault(step, last_inputs[step])
        elif kind == "action.result" and isinstance(key, str):
            replay.done[key] = rec.get("result")
        elif kind == "action.failed" and isinstance(key, str):
            called.discard(key)  # it failed: sending it again is a fresh attempt
        elif kind == "approval.granted":
            targets = rec.get("targets") or []
            replay.approved.setdefault(step, set()).update(map(str, targets))
            granted[step] = _calls_sig(replay.shown.get(step, []))
    replay.unknown = called - set(replay.done)
    replay.sent = {k: sent_to[k] for k in (*replay.done, *replay.unknown) if k in sent_to}
    for inputs in fed.values():
        outputs = inputs.get("outputs")
        for sid, recorded in (outputs if isinstance(outputs, dict) else {}).items():
            if isinstance(recorded, dict) and recorded.get("status") in _REPLAYABLE:
                replay.outputs.setdefault(str(sid), recorded)
    return replay


class Continuation:
    """The resume side of one run: what it records for a later resume and compares with.

    ``writes``: the steps of this run that wrote (or planned writes); they are
    never replayed, their writes have their own identity.
    """

    def __init__(self, replay: Replay, log: Log) -> None:
        self.replay = replay
        self.log = log
        self.writes: set[str] = set()

    def record(
        self,
        step: Step,
        action: str,
        calls: list[dict[str, Any]],
        keys: list[str],
        targets: list[str],
        steps: Mapping[str, Mapping[str, Any]],
    ) -> list[dict[str, Any]]:
        """Log ``step.inputs`` for a live write step; return how it differs from the last shown.

        A difference is logged as ``approval.changed`` too.
        """
        shown = shown_calls(calls, keys, targets)
        outputs, omitted = snapshot(step, steps, self.writes)
        self.log(
            "step.inputs",
            step=step.id,
            action=action,
            calls=shown,
            outputs=outputs,
            outputs_omitted=omitted,
        )
        found = changes_since(self.replay, step.id, shown)
        if found:
            self.log("approval.changed", step=step.id, action=action, changes=found)
        return found

    def replayed(self, step_id: str, redact: Callable[[str], str]) -> StepOutcome | None:
        """The recorded outcome of a read step that fed writes already sent, logged as such."""
        recorded = self.replay.outputs.get(step_id)
        if recorded is None:
            return None
        output = recorded.get("output")
        status = recorded.get("status")
        self.log(
            "step.finished",
            step=step_id,
            status=status,
            duration_ms=0,
            replayed=True,
            output=summarize(output, redact=redact),
        )
        return Skipped() if status == "skipped" else Succeeded(output, 0.0)


def feeder_ids(step: Step) -> set[str] | None:
    """The steps whose outputs ``step``'s templates read; ``None`` when it reads ``steps`` whole.

    ``steps[name]`` with a computed name, or ``steps`` itself, could read any step.
    """
    ids: set[str] = set()
    for source in iter_templates([dict(step.with_), step.if_, step.for_each]):
        try:
            ast = parse_template(source)
        except TemplateError:
            return None
        named = [name for root, name, _ in template_references(ast) if root == "steps"]
        uses = sum(1 for n in ast.find_all(nodes.Name) if n.name == "steps" and n.ctx == "load")
        if uses > len(named):
            return None
        ids.update(named)
    return ids


def snapshot(
    step: Step, steps: Mapping[str, Mapping[str, Any]], writes: set[str]
) -> tuple[dict[str, Any] | None, str | None]:
    """The outputs of the read steps ``step`` reads, as ``step.inputs`` records them.

    Returns ``(outputs, None)``, or ``(None, why)`` when they are too large to log.
    """
    ids = feeder_ids(step)
    outputs: dict[str, Any] = {}
    for sid, state in steps.items():
        if sid in writes or (ids is not None and sid not in ids):
            continue
        output = state.get("output")
        if (
            state.get("status") in _REPLAYABLE
            and not holds_secret(output)
            and not _holds_set(output)
        ):
            outputs[sid] = {"status": state.get("status"), "output": state.get("output")}
    size = len(json.dumps(outputs, default=str, ensure_ascii=False))
    if size > MAX_SNAPSHOT:
        return None, f"{size} characters of JSON is more than {MAX_SNAPSHOT}: not replayable"
    return outputs, None


def _holds_set(output: Any) -> bool:
    """Whether a step output holds an event set: such a read runs again on resume.

    The log keeps a set's count, span, digest and first events, not the events;
    the read that made it is run again (a file's, from the cache).
    """
    return isinstance(output, Mapping) and any(isinstance(v, EventSet) for v in output.values())


def shown_calls(
    calls: list[dict[str, Any]], keys: list[str], targets: list[str]
) -> list[dict[str, Any]]:
    """The calls of a write step as ``step.inputs`` records them (what an approval is for)."""
    return [
        {
            "index": i,
            "call": key,
            "target": target,
            "args": loggable(args),
            "args_sha256": call_digest(args),
        }
        for i, (args, key, target) in enumerate(zip(calls, keys, targets, strict=True))
    ]


def changes_since(replay: Replay, step_id: str, now: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """How a write step's calls differ from the ones an earlier part of the run showed."""
    before = replay.shown.get(step_id)
    if before is None:
        return []
    sent = {int(c["index"]) for c in [*before, *now] if str(c.get("call")) in replay.sent}
    return changes(before, now, sent)


def changes(
    shown: list[dict[str, Any]], now: list[dict[str, Any]], sent: set[int]
) -> list[dict[str, Any]]:
    """Each difference between the calls last shown for approval and the calls rendered now.

    A call already sent (``sent``: its index) must be the same call at the same
    index; the others are compared as a multiset of (target, arguments), so a
    read that returns the same targets in another order changes nothing.
    Each change: ``{"change": "added"|"removed"|"sent", "index", "old", "new"}``.
    """
    old_at = {c.get("index"): c for c in shown}
    new_at = {c.get("index"): c for c in now}
    out: list[dict[str, Any]] = []
    for index in sorted(sent):
        old, new = old_at.get(index), new_at.get(index)
        if old is not None and (new is None or _sig(old) != _sig(new)):
            out.append(_change("sent", index, old, new))
    left = Counter(_sig(c) for c in shown if c.get("index") not in sent)
    for call in now:
        if call.get("index") in sent:
            continue
        if left[_sig(call)] > 0:
            left[_sig(call)] -= 1
        else:
            out.append(_change("added", call.get("index"), None, call))
    for call in shown:
        if call.get("index") not in sent and left[_sig(call)] > 0:
            left[_sig(call)] -= 1
            out.append(_change("removed", call.get("index"), call, None))
    return out


def _change(
    kind: str, index: Any, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> dict[str, Any]:
    return {"change": kind, "index": index, "old": _brief(old), "new": _brief(new)}


def _calls_sig(calls: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted(_sig(c) for c in calls)


def _sig(call: Mapping[str, Any]) -> tuple[str, str]:
    return str(call.get("target")), str(call.get("args_sha256"))


def _brief(call: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if call is None:
        return None
    return {"target": call.get("target"), "args": call.get("args")}


def describe_changes(step_id: str, found: list[dict[str, Any]]) -> str:
    """The stop message: what changed, what happens to it, and how to approve."""
    lines = [
        f"step {step_id!r}: its writes differ from what was shown for approval (a read step "
        "they come from returned something new when the run was resumed); nothing was sent "
        "for them:",
        *change_lines(found),
        "check them, then approve the new ones with: soar resume RUNLOG --yes",
    ]
    return "\n".join(lines)
