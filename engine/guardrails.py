"""Guardrails on writes: the blast radius, ``max_targets`` and protected users.

A write action names the argument that holds its target (``Action.target``,
``user_id`` for ``auth0.block_user``). The targets of a step are that argument
of each of its calls (one per ``for_each`` item). A step refuses, before any
call is sent or planned, when it has more targets than its ``max_targets``
(default 25) or when any target is a protected user.

Protected users are matched against the target *value*, exactly but without
regard to case: list the user ids (``auth0|64f...``) your break-glass accounts
have; an email in the list protects a target only where the target is that
email. ``SOAR_PROTECTED_USERS`` holds them, comma-separated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from engine.errors import GuardrailError
from engine.registry import Action
from engine.secrets import Secret

PROTECTED_ENV = "SOAR_PROTECTED_USERS"


def parse_protected(text: str | None) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``: the value of ``SOAR_PROTECTED_USERS``."""
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def target_of(action: Action, args: Mapping[str, Any]) -> str:
    """The target of one call: the ``Action.target`` argument, else the URL or action name."""
    key = action.target or ("url" if "url" in args else None)
    value = args.get(key) if key else None
    if value is None:
        return action.name
    if isinstance(value, Secret):
        return "***"
    return str(value)


def targets_of(action: Action, calls: Sequence[Mapping[str, Any]]) -> list[str]:
    """The blast radius of a step: each call's target, in item order."""
    return [target_of(action, args) for args in calls]


class Guardrails:
    """The guardrails of one run: the protected users and the per-step limit check."""

    def __init__(self, protected_users: Iterable[str] = ()) -> None:
        self.protected = {p.strip().lower() for p in protected_users if p.strip()}

    def check(self, step_id: str, targets: Sequence[str], max_targets: int) -> None:
        """Raise ``GuardrailError`` naming the refused targets and the limit."""
        distinct = list(dict.fromkeys(targets))
        if len(distinct) > max_targets:
            shown = ", ".join(distinct[:10]) + (" ..." if len(distinct) > 10 else "")
            raise GuardrailError(
                f"step {step_id!r} refused: {len(distinct)} targets is more than its "
                f"max_targets of {max_targets} ({shown}); narrow the selection, or raise "
                "max_targets on the step if this many is intended"
            )
        hit = [t for t in distinct if t.lower() in self.protected]
        if hit:
            raise GuardrailError(
                f"step {step_id!r} refused: protected user(s) {', '.join(hit)} are in "
                f"{PROTECTED_ENV}; soar never writes to them (handle them by hand)"
            )
