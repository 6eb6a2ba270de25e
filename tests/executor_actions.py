"""Test actions and helpers shared by the executor, resume and CLI tests.

``make_registry(server_url)`` builds a fresh registry per test: the real
``data.*`` and ``http.request`` actions plus small ``t.*`` actions whose
behaviour the tests can observe (a write that POSTs to the local server, a
write whose ``plan`` misbehaves, a flaky read, a slow read).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.actions import data, http
from engine.actions.registry import Action, ActionContext, ActionRegistry
from engine.audit.runlog import read_records
from engine.errors import ActionError
from engine.playbook.loader import load_playbook_text
from engine.playbook.model import Playbook

OBJ: dict[str, Any] = {"type": "object"}


class Probe:
    """Counts calls and the largest number running at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls = 0
        self.running = 0
        self.max_running = 0

    def enter(self) -> int:
        with self.lock:
            self.calls += 1
            self.running += 1
            self.max_running = max(self.max_running, self.running)
            return self.calls

    def leave(self) -> None:
        with self.lock:
            self.running -= 1


def make_registry(
    server_url: str = "http://127.0.0.1:9", probe: Probe | None = None
) -> ActionRegistry:
    probe = probe or Probe()

    def echo(ctx: ActionContext, args: Mapping[str, Any]) -> dict[str, Any]:
        return {"value": args.get("value")}

    def slow(ctx: ActionContext, args: Mapping[str, Any]) -> dict[str, Any]:
        probe.enter()
        try:
            time.sleep(float(args["seconds"]))
        finally:
            probe.leave()
        return {"value": args.get("value")}

    def flaky(ctx: ActionContext, args: Mapping[str, Any]) -> dict[str, Any]:
        n = probe.enter()
        probe.leave()
        if n <= int(args["failures"]):
            raise ActionError(f"flaky failure {n}")
        return {"attempt": n}

    def boom(ctx: ActionContext, args: Mapping[str, Any]) -> dict[str, Any]:
        raise RuntimeError("unexpected bug in an action")

    def write(ctx: ActionContext, args: Mapping[str, Any]) -> dict[str, Any]:
        r = ctx.http.post(f"{server_url}/users/{args['user_id']}", json={"blocked": True})
        if r.status_code >= 400:
            raise ActionError(f"POST failed: HTTP {r.status_code}")
        return {"user_id": args["user_id"], "status": r.status_code}

    def plan_write(ctx: ActionContext, args: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [{"method": "POST", "path": f"/users/{args['user_id']}", "body": {"blocked": True}}]

    def plan_misbehaves(ctx: ActionContext, args: Mapping[str, Any]) -> list[dict[str, Any]]:
        ctx.http.get(f"{server_url}/users/{args['user_id']}")  # reads are allowed
        ctx.http.post(f"{server_url}/users/{args['user_id']}", json={"oops": True})
        return [{"method": "POST", "path": "/never"}]

    user = {
        "type": "object",
        "required": ["user_id"],
        "properties": {"user_id": {"type": "string"}},
    }
    actions = [
        Action(
            "t.echo", echo, {"type": "object", "properties": {"value": {}}}, OBJ, "read", "echo"
        ),
        Action(
            "t.slow",
            slow,
            {
                "type": "object",
                "required": ["seconds"],
                "properties": {"seconds": {"type": "number"}, "value": {}},
            },
            OBJ,
            "read",
            "sleep",
        ),
        Action(
            "t.flaky",
            flaky,
            {
                "type": "object",
                "required": ["failures"],
                "properties": {"failures": {"type": "integer"}},
            },
            OBJ,
            "read",
            "fails first",
        ),
        Action("t.boom", boom, {"type": "object"}, OBJ, "read", "raises"),
        Action(
            "t.block", write, user, OBJ, "write", "POST per user", plan=plan_write, target="user_id"
        ),
        Action(
            "t.block_idem",
            write,
            user,
            OBJ,
            "write",
            "idempotent POST",
            plan=plan_write,
            target="user_id",
            idempotent=True,
        ),
        Action(
            "t.bad_plan",
            write,
            user,
            OBJ,
            "write",
            "plan POSTs",
            plan=plan_misbehaves,
            target="user_id",
        ),
    ]
    return ActionRegistry([*actions, *data.ACTIONS, *http.ACTIONS])


def playbook(text: str, registry: ActionRegistry, tmp_path: Path | None = None) -> Playbook:
    """Load playbook text (validated like a file); written to ``tmp_path`` when given."""
    if tmp_path is not None:
        path = tmp_path / "pb.yaml"
        path.write_text(text, encoding="utf-8")
        from engine.playbook.loader import load_playbook

        return load_playbook(path, registry)
    return load_playbook_text(text, registry, "pb.yaml")


def types(log: Path) -> list[str]:
    return [r["type"] for r in read_records(log)]


def records(log: Path, kind: str) -> list[dict[str, Any]]:
    return [r for r in read_records(log) if r["type"] == kind]
