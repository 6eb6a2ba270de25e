"""Guardrails on writes: the blast radius, ``max_targets`` and protected users.

A write action says what one call targets (``Action.targets``: its
``target`` argument, ``user_id`` for ``auth0.block_user``, or its addresses).
The targets of a step are those of each of its calls (one per ``for_each`` item). Before any call is sent or
planned:

- the step is refused when it has more write calls, or more distinct targets,
  than its ``max_targets`` (default 25): thirty POSTs to one URL are thirty;
- each target is resolved (``Action.resolve``: the user record, read with
  ``GET /api/v2/users/{id}``) and refused when a protected user matches any
  name it goes by: its user id, email, username, or a linked identity
  (``provider|user_id``), without regard to case. A refused target is never
  sent; the others are, and the step then fails naming the refused ones.

A target whose record cannot be read (an error, or an offline run) is refused
while any protected user is configured: soar cannot tell whether it is one
(an entry may name a linked identity of that very account). A target the
tenant says does not exist (404) is no account, so it cannot be a protected
one: it is not refused (``delete_user`` then finds it gone and sends nothing;
``block_user`` fails with "does not exist"). ``SOAR_PROTECTED_USERS`` holds
the protected users, comma-separated.

A write whose targets are addresses (``Action.addresses``: ``auth0.block_ips``)
has one target per address or network, so ``max_targets`` counts addresses;
its calls are matched against the protected addresses instead
(``SOAR_PROTECTED_IPS``: addresses or CIDRs, e.g. the office NAT), and a call
that would block any address inside (or any network around) one is refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.actions.registry import Action, ActionContext
from engine.errors import ConfigError, GuardrailError, SoarError
from engine.ipforms import Network, parse_network
from engine.run.plan import loggable

PROTECTED_ENV = "SOAR_PROTECTED_USERS"
PROTECTED_IPS_ENV = "SOAR_PROTECTED_IPS"
_SHOWN = 10  # targets named in one error message


def parse_protected(text: str | None) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``: the value of ``SOAR_PROTECTED_USERS``."""
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def parse_protected_ips(text: str | None) -> list[str]:
    """The value of ``SOAR_PROTECTED_IPS`` as networks' texts; ``ConfigError`` names a bad one."""
    found = []
    for part in parse_protected(text):
        try:
            found.append(str(parse_network(part)))
        except ValueError:
            raise ConfigError(
                f"{PROTECTED_IPS_ENV}: {part[:64]!r} is not an IP address or CIDR "
                "(list addresses or networks, comma-separated, e.g. 198.51.100.7,203.0.113.0/24)"
            ) from None
    return found


def target_of(action: Action, args: Mapping[str, Any]) -> str:
    """The target of one call as shown and logged: ``Action.targets``, comma-separated."""
    return ", ".join(action.targets(args))


def targets_of(action: Action, calls: Sequence[Mapping[str, Any]]) -> list[str]:
    """The blast radius of a step: each call's target, in item order."""
    return [target_of(action, args) for args in calls]


@dataclass(frozen=True)
class Target:
    """One write call's target as this run knows it: what is checked and shown for approval.

    ``record``: ``"read"`` (resolved), ``"gone"`` (the tenant says it does not
    exist), ``"unread"`` (``note`` says why), ``"none"`` (the action has no
    resolver; only the target value is known).
    """

    index: int
    value: str
    record: str = "none"
    names: frozenset[str] = frozenset()
    details: Mapping[str, Any] = field(default_factory=dict)
    note: str | None = None
    addresses: tuple[str, ...] = ()  # an address write's targets (one call may hold several)

    def shown(self) -> dict[str, Any]:
        """The loggable form: index, target, details, and why the record is missing."""
        out: dict[str, Any] = {"index": self.index, "target": self.value, **self.details}
        if self.record in ("gone", "unread"):
            out["record"] = self.record
        if self.note:
            out["note"] = self.note
        return out


def resolve_targets(
    action: Action, ctx: ActionContext, calls: Sequence[Mapping[str, Any]]
) -> list[Target]:
    """Each call's ``Target``; each distinct target is resolved once (reads only)."""
    seen: dict[str, Target] = {}
    out = []
    for index, args in enumerate(calls):
        value = target_of(action, args)
        key = json.dumps(loggable(args), sort_keys=True, default=str)  # same call, same answer
        known = seen.get(key)
        if known is None:
            known = seen[key] = _resolve(action, ctx, args, value)
        out.append(
            Target(
                index,
                value,
                known.record,
                known.names,
                known.details,
                known.note,
                action.address_targets(args),
            )
        )
    return out


def _resolve(action: Action, ctx: ActionContext, args: Mapping[str, Any], value: str) -> Target:
    if action.resolve is None:
        return Target(0, value)
    try:
        found = action.resolve(ctx, args)
    except SoarError as exc:  # an upstream or connection error: said, and decided on below
        return Target(0, value, "unread", note=f"cannot read it: {exc}")
    if found is None:
        return Target(0, value, "gone", note="the tenant says it does not exist")
    return Target(0, value, "read", found.names, found.details)


class Guardrails:
    """The guardrails of one run: the protected users and the per-step checks."""

    def __init__(
        self, protected_users: Iterable[str] = (), protected_ips: Iterable[str] = ()
    ) -> None:
        self.shown = list(dict.fromkeys(p.strip() for p in protected_users if p.strip()))
        self.protected = {p.lower() for p in self.shown}
        self.networks = [parse_network(p) for p in protected_ips]
        self.shown_ips = [str(n) for n in self.networks]

    def check(self, step_id: str, targets: Sequence[Target], max_targets: int) -> dict[int, str]:
        """The calls refused (index -> why); raises ``GuardrailError`` when the step is too big."""
        distinct = list(dict.fromkeys(v for t in targets for v in t.addresses or (t.value,)))
        if len(targets) > max_targets or len(distinct) > max_targets:
            shown = ", ".join(distinct[:_SHOWN]) + (" ..." if len(distinct) > _SHOWN else "")
            count = (
                f"{len(distinct)} targets"
                if len(distinct) > max_targets
                else f"{len(targets)} write calls (to {len(distinct)} target(s))"
            )
            raise GuardrailError(
                f"step {step_id!r} refused: {count} is more than its max_targets of "
                f"{max_targets} ({shown}); narrow the selection, or raise max_targets on the "
                "step if this many is intended"
            )
        refused = {}
        for target in targets:
            why = self.refusal(target)
            if why:
                refused[target.index] = why
        return refused

    def refusal(self, target: Target) -> str | None:
        """Why ``target`` may not be written to (``None``: it may)."""
        if target.addresses:
            hit = [
                a
                for a in target.addresses
                if any(_overlap(parse_network(a), n) for n in self.networks)
            ]
            if hit:
                return f"protected address(es) {', '.join(hit)} (in {PROTECTED_IPS_ENV})"
            return None
        if not self.protected:
            return None
        hit = sorted((target.names | {target.value.lower()}) & self.protected)
        if hit:
            return f"protected user (matches {', '.join(hit)} in {PROTECTED_ENV})"
        if target.record == "unread":
            return (
                f"its user record could not be read ({target.note}), so soar cannot tell "
                f"whether it is one of the protected users in {PROTECTED_ENV}"
            )
        return None


def _overlap(a: Network, b: Network) -> bool:
    return a.version == b.version and a.overlaps(b)


def refused_error(step_id: str, targets: Sequence[str], refused: Mapping[int, str]) -> str:
    """The step's error when targets were refused: which, and why (the first few)."""
    lines = [f"{targets[i]}: {why}" for i, why in sorted(refused.items())]
    more = f"; ... and {len(lines) - _SHOWN} more" if len(lines) > _SHOWN else ""
    return (
        f"step {step_id!r}: {len(lines)} target(s) refused and not written ("
        + "; ".join(lines[:_SHOWN])
        + f"{more}); soar never writes to them: handle them by hand"
    )
