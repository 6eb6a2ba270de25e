"""Approval of writes: ``--yes``, an operator's answer, or a stop before the first write.

The executor asks once per write step, just before its first call, with the
concrete calls of that step (its blast radius): each target with the details
the run has (the user record's id, email, username and name; an HTTP call's
method, URL with secret parts masked, and body), the tenant, and the targets
refused by the guardrails. ``approval_content`` builds that once: the prompt,
the ``approval.*`` records and the CLI's summary of a stopped run all show it.
``approve`` is:

- ``True`` (``--yes``): granted, logged as ``approval.granted`` by ``--yes``;
- a callable (the CLI's terminal prompt): granted or denied by its answer;
- ``Preapproved`` (a detection rule's ``respond: auto`` under ``soar serve
  --respond auto``): granted without a person, logged as ``approval.granted``
  by its ``by`` (``rule <id> (auto)``), only for a step within its
  ``max_targets``; a larger step stops as below, for a person to decide;
- ``None`` / ``False``: the run stops before the write with status
  ``awaiting_approval``; ``soar resume RUNLOG --yes`` continues it.

A denied step stops the run the same way (nothing of that step is written; the
operator may resume later with ``--yes``), and so does a resumed step with
writes of unknown outcome (``stop_unknown``). Dry runs and offline runs need
no approval: they write nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.run.guardrails import Target

Log = Callable[..., Any]
SHOWN_CALLS = 50  # calls listed on a terminal; the records keep them all
_SHOWN_BODY = 300


@dataclass(frozen=True)
class ApprovalRequest:
    """What an operator approves: one write step, its action, its targets and their calls.

    ``calls``: one mapping per call (``index``, ``target`` and the details the
    run has); ``refused``: the calls the guardrails refused (with ``reason``),
    which are not written whatever the answer.
    """

    step_id: str
    action: str
    targets: tuple[str, ...]
    calls: tuple[Mapping[str, Any], ...] = ()
    tenant: str = ""
    refused: tuple[Mapping[str, Any], ...] = ()

    def content(self) -> dict[str, Any]:
        """The fields of the ``approval.*`` records."""
        return {
            "step": self.step_id,
            "action": self.action,
            "tenant": self.tenant,
            "targets": list(self.targets),
            "calls": [dict(c) for c in self.calls],
            "refused": [dict(r) for r in self.refused],
        }


def approval_content(
    step_id: str,
    action: str,
    targets: Sequence[Target],
    *,
    tenant: str = "",
    refused: Mapping[int, str] | None = None,
) -> ApprovalRequest:
    """The one description of a write step to approve: its allowed calls and refused ones."""
    refused = refused or {}
    allowed = [t for t in targets if t.index not in refused]
    return ApprovalRequest(
        step_id,
        action,
        tuple(t.value for t in allowed),
        tuple(t.shown() for t in allowed),
        tenant,
        tuple({**t.shown(), "reason": refused[t.index]} for t in targets if t.index in refused),
    )


def _call_line(call: Mapping[str, Any], seen: Mapping[str, Sequence[str]] | None = None) -> str:
    if "method" in call:  # an HTTP call
        line = f"{call.get('method')} {call.get('url', call.get('target'))}"
        if "body" in call:
            body = json.dumps(call["body"], ensure_ascii=False, default=str)
            cut = body[:_SHOWN_BODY] + (
                f"... ({len(body)} chars)" if len(body) > _SHOWN_BODY else ""
            )
            line += f"  body {cut}"
        return line
    uid = str(call.get("user_id") or call.get("target"))
    parts = [uid]
    parts += [f"{k} {call[k]!r}" for k in ("email", "username", "name") if call.get(k)]
    known = {call.get(k) for k in ("email", "username")}
    logged = [n for n in (seen or {}).get(uid, ()) if n not in known]
    if logged:  # the login name the logs show, when the record now says otherwise
        parts.append(f"seen in the logs as {', '.join(map(repr, logged))}")
    if call.get("note"):
        parts.append(f"({call['note']})")
    return "  ".join(parts)


def approval_lines(
    content: Mapping[str, Any],
    limit: int = SHOWN_CALLS,
    seen: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """An approval as text lines: every call (the first ``limit``), then the refused ones.

    Takes ``ApprovalRequest.content()`` or an ``approval.*`` record (older
    records without ``calls`` list their ``targets``). ``seen``: user id -> the
    ``user_name``s the run's log events showed for it, added where the user
    record does not carry them (an attacker who took an account over may have
    changed its email). The caller makes each line terminal-safe: user names
    and URLs are data.
    """
    calls = content.get("calls") or [{"target": t} for t in content.get("targets") or []]
    tenant = f" in tenant {content['tenant']}" if content.get("tenant") else ""
    lines = [
        f"step {content.get('step')!r} will run {content.get('action')} "
        f"on {len(calls)} target(s){tenant}:"
    ]
    lines += [f"  - {_call_line(c, seen)}" for c in calls[:limit]]
    if len(calls) > limit:
        lines.append(f"  ... and {len(calls) - limit} more (all are in the run log)")
    refused = content.get("refused") or []
    if refused:
        lines.append(f"refused, never written ({len(refused)}):")
        lines += [f"  - {_call_line(r, seen)}: {r.get('reason')}" for r in refused[:limit]]
    return lines


@dataclass(frozen=True)
class Preapproved:
    """Writes approved in advance by a rule, not by a person: ``by`` names who, for the record.

    ``max_targets``: the most targets one step may write to under this
    approval (None: the step's own ``max_targets`` guardrail is the bound).
    """

    by: str
    max_targets: int | None = None

    def covers(self, request: ApprovalRequest) -> bool:
        return self.max_targets is None or len(request.targets) <= self.max_targets


Approve = bool | Callable[[ApprovalRequest], bool] | Preapproved | None


class AwaitingApproval(Exception):
    """Internal signal: stop the run before a write (not an error; never leaves the executor)."""


@dataclass(frozen=True)
class Decision:
    """An answer given away from the run's terminal (``soar approve``, a deadline): yes or no,
    who gave it and when (ISO 8601). As an ``Approve`` it answers every question of the run
    alike, and the log records ``by`` and ``decided_at`` with it; with a ``step`` (an automatic
    approval, which is checked step by step), it answers that step's question only, and the
    run's next write step asks again."""

    granted: bool
    operator: str
    at: str
    step: str | None = None

    def __call__(self, request: ApprovalRequest) -> bool:
        return self.granted


class Approvals:
    """Asks for approval per write step and records every question and answer in the log."""

    def __init__(
        self, approve: Approve, log: Log, already: Mapping[str, set[str]] | None = None
    ) -> None:
        self.approve = approve
        self.log = log
        # step -> the targets it was approved for, earlier in this run (a resumed run)
        self.granted: dict[str, set[str]] = {k: set(v) for k, v in (already or {}).items()}

    def require(self, request: ApprovalRequest) -> None:
        """Return when the step may write; raise ``AwaitingApproval`` when it may not.

        An approval covers the targets it showed: a resumed step whose targets
        changed (its read steps found more) is asked again.
        """
        step_id, targets = request.step_id, request.targets
        if step_id in self.granted and set(targets) <= self.granted[step_id]:
            return
        content = request.content()
        self.log("approval.requested", **content)
        if self.approve is True:
            self._grant(content, "--yes")
            return
        if isinstance(self.approve, Preapproved):
            if self.approve.covers(request):
                self._grant(content, self.approve.by)
                return
            self.log(
                "approval.required",
                **content,
                reason="over_preapproved_targets",
                hint=(
                    f"{self.approve.by} approves at most {self.approve.max_targets} target(s) "
                    f"without a person; this step has {len(targets)}: nothing of it was "
                    "written; approve with: soar resume RUNLOG --yes"
                ),
            )
            raise AwaitingApproval
        if callable(self.approve):
            by, when = _decided(self.approve)
            if self.approve(request):
                self._grant(content, by, **when)
                return
            self.log("approval.denied", **content, by=by, **when)
            raise AwaitingApproval
        self.log(
            "approval.required",
            **content,
            hint="nothing of this step was written; approve with: soar resume RUNLOG --yes",
        )
        raise AwaitingApproval

    def stop_unknown(self, step_id: str, action: str, targets: Sequence[str]) -> None:
        """Stop before writes whose outcome is unknown (sent, then the run was interrupted).

        Not even ``--yes`` covers them: the operator checks the targets by hand
        and resumes with ``--resend-unknown``.
        """
        hint = (
            f"step {step_id!r}: {len(targets)} write(s) of {action} were sent before the "
            "run was interrupted but their result was never logged, so whether they took effect "
            f"is unknown ({', '.join(targets[:10])}); check them by hand, then continue with: "
            "soar resume RUNLOG --resend-unknown (nothing else was sent)"
        )
        self.log(
            "approval.required",
            step=step_id,
            action=action,
            targets=list(targets),
            reason="unknown_outcome",
            hint=hint,
        )
        raise AwaitingApproval(hint)

    def _grant(self, content: Mapping[str, Any], by: str, **when: str) -> None:
        self.granted[str(content["step"])] = set(content["targets"])
        self.log("approval.granted", **content, by=by, **when)


def _decided(approve: Callable[[ApprovalRequest], bool]) -> tuple[str, dict[str, str]]:
    """Who answered (a ``Decision``'s operator; ``operator``: a terminal's prompt) and when."""
    if isinstance(approve, Decision):
        return approve.operator, {"decided_at": approve.at}
    return "operator", {}
