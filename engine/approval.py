"""Approval of writes: ``--yes``, an operator's answer, or a stop before the first write.

The executor asks once per write step, just before its first call, with the
concrete targets of that step (its blast radius). ``approve`` is:

- ``True`` (``--yes``): granted, logged as ``approval.granted`` by ``--yes``;
- a callable (the CLI's terminal prompt): granted or denied by its answer;
- ``None`` / ``False``: the run stops before the write with status
  ``awaiting_approval``; ``soar resume RUNLOG --yes`` continues it.

A denied step stops the run the same way (nothing is written; the operator may
resume later with ``--yes``), and so does a resumed step with writes of
unknown outcome (``stop_unknown``). Dry runs and offline runs need no approval: they
write nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Approve = bool | Callable[["ApprovalRequest"], bool] | None
Log = Callable[..., Any]


@dataclass(frozen=True)
class ApprovalRequest:
    """What an operator approves: one write step, its action and its concrete targets."""

    step_id: str
    action: str
    targets: tuple[str, ...]


class AwaitingApproval(Exception):
    """Internal signal: stop the run before a write (not an error; never leaves the executor)."""


class Approvals:
    """Asks for approval per write step and records every question and answer in the log."""

    def __init__(
        self, approve: Approve, log: Log, already: Mapping[str, set[str]] | None = None
    ) -> None:
        self.approve = approve
        self.log = log
        # step -> the targets it was approved for, earlier in this run (a resumed run)
        self.granted: dict[str, set[str]] = {k: set(v) for k, v in (already or {}).items()}

    def require(self, step_id: str, action: str, targets: Sequence[str]) -> None:
        """Return when the step may write; raise ``AwaitingApproval`` when it may not.

        An approval covers the targets it showed: a resumed step whose targets
        changed (its read steps found more) is asked again.
        """
        if step_id in self.granted and set(targets) <= self.granted[step_id]:
            return
        request = ApprovalRequest(step_id, action, tuple(targets))
        self.log("approval.requested", step=step_id, action=action, targets=list(targets))
        if self.approve is True:
            self._grant(step_id, targets, "--yes")
            return
        if callable(self.approve):
            if self.approve(request):
                self._grant(step_id, targets, "operator")
                return
            self.log("approval.denied", step=step_id, by="operator")
            raise AwaitingApproval
        self.log(
            "approval.required",
            step=step_id,
            action=action,
            targets=list(targets),
            hint="nothing was written; approve with: soar resume RUNLOG --yes",
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

    def _grant(self, step_id: str, targets: Sequence[str], by: str) -> None:
        self.granted[step_id] = set(targets)
        self.log("approval.granted", step=step_id, by=by, targets=list(targets))
