"""The action registry: an explicit instance, built by listing each module's actions.

An action is a frozen record. Every action function has the same shape,
``(ctx, args) -> result``: it receives validated, rendered arguments and a
per-run context, and returns a JSON-serialisable mapping. A write action also
has a ``plan`` function of the same shape that returns the requests it would
send, without sending them; a dry run calls ``plan`` instead of ``func``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from engine.errors import DuplicateActionError, SoarError
from engine.secrets import MASK, Secret

if TYPE_CHECKING:
    import httpx
    import jsonschema

    from engine.auth0 import Auth0Client
    from engine.logs.store import EventStore

Effect = Literal["read", "write"]
Result = dict[str, Any]


@dataclass
class ActionContext:
    """What an action may use during one run. Built per run, never shared between runs.

    ``http`` is the guarded generic HTTP client (``http.request``); ``auth0()``
    builds the Auth0 client on first use so playbooks that never touch Auth0
    need no Auth0 settings. ``logs_file`` is set by ``soar run --logs``: log
    searches then read that file instead of a tenant, and writes are planned only.
    ``events()`` is the run's event store (``engine.logs.store``), opened on
    first use: log searches answer with event sets held there. ``now``, when
    set, is the instant relative times count from (``since: 24h``), the same on
    every resume of the run; otherwise the current time.
    An action logs with ``structlog.get_logger(__name__)``: the run binds
    ``run_id`` and ``step_id`` in context variables, so its events carry them.
    """

    dry_run: bool
    http: httpx.Client
    auth0_factory: Callable[[], Auth0Client] | None = None
    logs_file: Path | None = None
    secrets: Mapping[str, Secret] = field(default_factory=dict)
    events_factory: Callable[[], EventStore] | None = None
    now: datetime | None = None  # the run's clock: relative times (since: 24h) count from it
    _auth0: Auth0Client | None = field(default=None, repr=False)
    _events: EventStore | None = field(default=None, repr=False)

    def auth0(self) -> Auth0Client:
        """The run's Auth0 client, created on first use from the environment settings."""
        if self._auth0 is None:
            if self.auth0_factory is None:
                raise SoarError("this run has no Auth0 connection configured")
            self._auth0 = self.auth0_factory()
        return self._auth0

    def events(self) -> EventStore:
        """The run's event store, opened on first use (a store of its own without a factory)."""
        if self._events is None:
            if self.events_factory is None:
                from engine.logs.store import EventStore

                self._events = EventStore()
            else:
                self._events = self.events_factory()
        return self._events


def _is_array(checker: Any, instance: Any) -> bool:
    """JSON arrays are lists and tuples, and event sets: a search's events kept in the run's DuckDB."""
    from engine.logs.eventset import EventSet

    return isinstance(instance, list | tuple | EventSet)


@lru_cache(maxsize=1)
def _validator_class() -> Any:
    """Draft 2020-12, its ``array`` type taking event sets too (``_is_array``)."""
    import jsonschema

    base = jsonschema.Draft202012Validator
    return jsonschema.validators.extend(  # type: ignore[no-untyped-call]
        base, type_checker=base.TYPE_CHECKER.redefine("array", _is_array)
    )


ActionFunc = Callable[[ActionContext, Mapping[str, Any]], Result]
PlanFunc = Callable[[ActionContext, Mapping[str, Any]], list[dict[str, Any]]]


@dataclass(frozen=True)
class Resolved:
    """What a write's target is, as the run read it (``Action.resolve``).

    ``names``: every identifier it goes by, lower-cased (a user's id, email,
    username, linked identities), matched against the protected users;
    ``details``: what an approver is shown (user id, email, username, name; or
    method, URL, body), secrets already masked.
    """

    names: frozenset[str]
    details: Mapping[str, Any]


# None: the tenant says the target does not exist (404); raises when it cannot be read
ResolveFunc = Callable[[ActionContext, Mapping[str, Any]], Resolved | None]


@dataclass(frozen=True)
class Action:
    """One registered action.

    ``target`` names the argument that holds a write's target (``user_id`` for
    ``auth0.block_user``): the executor uses it for the blast radius shown at
    approval, for ``max_targets`` and for protected users. ``idempotent``
    writes (blocking a user) may be re-sent by ``soar resume`` when a crash hid
    whether they completed; others are reported as unknown instead.

    ``resolve`` reads what one write call's target is before any write is sent
    (the user record of ``auth0.block_user``'s ``user_id``), for protected
    users and the approval. ``sends_when_planning`` says whether a *read* call
    may leave the process in a dry or offline run (default: yes); ``http.request``
    answers no unless the call is a declared lookup (``effect: read``).

    ``addresses`` is set on a write whose targets are IP addresses or networks
    (``auth0.block_ips``): it reads one call's targets (each address, so
    ``max_targets`` counts addresses), and the guardrails match them against the
    protected addresses, not the protected users.

    ``verbs`` says one write call to an operator: ``(present, past)``, as in
    "would block auth0|42" in a dry run and "blocked auth0|42: changed" in a
    live one (``("block", "blocked")``); without them the method and URL are shown.
    ``writes_when`` decides per call whether a call of a ``write`` action
    writes (``http.request``: a GET or HEAD is a read unless marked
    ``effect: write``); without it every call has the action's ``effect``.
    ``blocks``: the write takes its targets out of an attacker's reach (block,
    delete): drills count its targets as blocked. Nothing outside an action's
    record checks action names: ask the record (``is_write``, ``targets``).
    """

    name: str
    func: ActionFunc
    input_schema: Mapping[str, Any]
    output_schema: Mapping[str, Any]
    effect: Effect
    description: str
    plan: PlanFunc | None = None
    target: str | None = None
    idempotent: bool = False  # safe to send again when a crash hid whether it completed
    resolve: ResolveFunc | None = None
    sends_when_planning: Callable[[Mapping[str, Any]], bool] | None = None
    addresses: Callable[[Mapping[str, Any]], list[str]] | None = None
    verbs: tuple[str, str] | None = None
    writes_when: Callable[[Mapping[str, Any]], bool] | None = None
    blocks: bool = False  # blocks or deletes its targets (what drills score as blocked)

    def __post_init__(self) -> None:
        if self.effect not in ("read", "write"):
            raise ValueError(f"action {self.name}: effect must be 'read' or 'write'")
        if self.effect == "write" and self.plan is None:
            raise ValueError(f"write action {self.name} needs a plan function for dry runs")

    def is_write(self, args: Mapping[str, Any] | None = None) -> bool:
        """Whether a call with ``args`` writes (without ``args``: whether the action can)."""
        if self.writes_when is not None and args is not None:
            return self.effect == "write" and self.writes_when(args)
        return self.effect == "write"

    @cached_property
    def arg_validator(self) -> jsonschema.Draft202012Validator:
        """The validator of this action's arguments: its input schema minus deferred properties.

        A deferred property (``"x-template": "deferred"``) is a template until the
        action renders it per item, so neither validation nor the run checks it as
        a value. Built once per action; used by ``soar validate`` (literal
        arguments) and by the run (every rendered call).
        """

        props = self.input_schema.get("properties", {})
        schema = dict(self.input_schema)
        schema["properties"] = {
            k: {kk: vv for kk, vv in v.items() if kk != "x-template"}
            for k, v in props.items()
            if v.get("x-template") != "deferred"
        }
        schema["required"] = [r for r in schema.get("required", []) if r in schema["properties"]]
        validator: jsonschema.Draft202012Validator = _validator_class()(schema)
        return validator

    def address_targets(self, args: Mapping[str, Any]) -> tuple[str, ...]:
        """The addresses one call of an address write targets (empty for other actions).

        Empty too when the arguments hold no address: the action itself refuses the call.
        """
        if self.addresses is None:
            return ()
        try:
            return tuple(self.addresses(args))
        except SoarError:
            return ()

    def targets(self, args: Mapping[str, Any]) -> list[str]:
        """What one call writes to, as shown and logged: its addresses, else its target argument.

        A secret target (a webhook URL) shows as the mask; a write without a
        target argument is shown by its action name.
        """
        addresses = self.address_targets(args)
        if addresses:
            return list(addresses)
        value = args.get(self.target) if self.target else None
        if value is None:
            return [self.name]
        if isinstance(value, Secret):
            return [MASK]
        return [str(value)]

    def planned_only(self, args: Mapping[str, Any]) -> bool:
        """Whether a dry or offline run must plan this call instead of sending it."""
        if self.is_write(args):
            return True
        return self.sends_when_planning is not None and not self.sends_when_planning(args)


class ActionRegistry:
    """Name -> Action. Registering a name twice is an error."""

    def __init__(self, actions: list[Action] | None = None) -> None:
        self._actions: dict[str, Action] = {}
        for action in actions or []:
            self.register(action)

    def register(self, action: Action) -> None:
        if action.name in self._actions:
            raise DuplicateActionError(f"action {action.name!r} is registered twice")
        self._actions[action.name] = action

    def get(self, name: str) -> Action | None:
        return self._actions.get(name)

    def __getitem__(self, name: str) -> Action:
        return self._actions[name]

    def __contains__(self, name: object) -> bool:
        return name in self._actions

    def __iter__(self) -> Iterator[Action]:
        return iter(sorted(self._actions.values(), key=lambda a: a.name))

    def __len__(self) -> int:
        return len(self._actions)

    def names(self) -> list[str]:
        return sorted(self._actions)

    def suggest(self, name: str, n: int = 3) -> list[str]:
        """The nearest registered names, for 'did you mean' hints."""
        return difflib.get_close_matches(name, self.names(), n=n, cutoff=0.5)
