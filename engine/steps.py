"""Step outcomes and the execution of one action call (retry, timeout, dry-run plan)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import jsonschema

from engine.errors import ActionError, DryRunViolation, GuardrailError, SoarError
from engine.model import RetryPolicy
from engine.registry import Action, ActionContext
from engine.templating import Deferred

Status = Literal["succeeded", "failed", "skipped", "planned"]


@dataclass(frozen=True)
class Succeeded:
    output: Any
    duration: float
    status: Status = "succeeded"


@dataclass(frozen=True)
class Planned:
    output: Any
    duration: float
    status: Status = "planned"


@dataclass(frozen=True)
class Skipped:
    duration: float = 0.0
    output: Any = None
    status: Status = "skipped"


@dataclass(frozen=True)
class Failed:
    error: str
    duration: float
    output: Any = None
    status: Status = "failed"


StepOutcome = Succeeded | Planned | Skipped | Failed


def check_args(action: Action, args: Mapping[str, Any]) -> None:
    """Rendered arguments against the action's input schema (deferred ones excepted)."""
    props = action.input_schema.get("properties", {})
    plain = {k: v for k, v in args.items() if not isinstance(v, Deferred)}
    schema = dict(action.input_schema)
    schema["properties"] = {
        k: {kk: vv for kk, vv in v.items() if kk != "x-template"}
        for k, v in props.items()
        if v.get("x-template") != "deferred"
    }
    schema["required"] = [r for r in schema.get("required", []) if r in schema["properties"]]
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(plain), key=lambda e: list(e.path)
    )
    if errors:
        err = errors[0]
        where = ".".join(str(p) for p in err.absolute_path) or "arguments"
        raise ActionError(f"{action.name}: {where}: {_short(err.message)}")


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _not_retryable(exc: BaseException) -> bool:
    return isinstance(exc, GuardrailError | DryRunViolation)


def call_with_retry(
    fn: Callable[[], Any],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[int, str, float], None] | None = None,
) -> Any:
    """Run ``fn``; on failure wait ``backoff * 2**n`` (jittered 50-150%) and try again."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except Exception as exc:
            if attempt >= policy.attempts or _not_retryable(exc):
                raise
            wait = min(policy.backoff * 2 ** (attempt - 1), policy.max_backoff)
            wait *= random.uniform(0.5, 1.5)
            if on_retry:
                on_retry(attempt, describe(exc), wait)
            sleep(wait)


def describe(exc: BaseException) -> str:
    """A one-line message for a failed action; never a traceback."""
    if isinstance(exc, SoarError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def run_action(action: Action, ctx: ActionContext, args: Mapping[str, Any], plan: bool) -> Any:
    check_args(action, args)
    if plan:
        assert action.plan is not None
        return {"dry_run": True, "planned": action.plan(ctx, args)}
    return action.func(ctx, args)
