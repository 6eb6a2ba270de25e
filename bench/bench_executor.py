"""Executor overhead with the run log on: 1,000 no-op steps, and a for_each over 10,000 items.

Run: ``.venv/bin/python bench/bench_executor.py``. Target: under 1 ms per step
and per item. Also reported, without a target: a ``for_each`` of no-op writes,
whose cost is the two fsynced records per write (bound by the disk). The no-op action does nothing, so the time measured is the
executor's own (templates are compiled before timing, as loading a playbook
does): rendering arguments, checking them against the schema, the
step boundary, and writing (redacting, hashing, flushing) the run-log records.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.actions.registry import Action, ActionContext, ActionRegistry
from engine.audit.runlog import verify
from engine.expr.templates import compile_template, iter_templates
from engine.playbook.model import Playbook, Step
from engine.run.executor import run_playbook


def noop(ctx: ActionContext, args: Mapping[str, Any]) -> dict[str, Any]:
    return {"value": args.get("value")}


REGISTRY = ActionRegistry(
    [
        Action(
            "bench.noop",
            noop,
            {"type": "object", "properties": {"value": {}}},
            {"type": "object"},
            "read",
            "does nothing",
        ),
        Action(
            "bench.write",
            noop,
            {"type": "object", "properties": {"value": {}}},
            {"type": "object"},
            "write",
            "a write that does nothing (its log records and fsyncs are what is measured)",
            plan=lambda ctx, args: [],
            target="value",
        ),
    ]
)


def steps_playbook(n: int) -> Playbook:
    steps = [Step(id="s0", uses="bench.noop", with_={"value": 0})]
    steps += [
        Step(id=f"s{i}", uses="bench.noop", with_={"value": f"{{{{ steps.s{i - 1}.status }}}}"})
        for i in range(1, n)
    ]
    return Playbook(name="bench-steps", steps=tuple(steps), path="<bench>")


def items_playbook(n: int) -> Playbook:
    step = Step(
        id="each",
        uses="bench.noop",
        for_each=list(range(n)),
        with_={"value": "{{ item }}"},
    )
    return Playbook(name="bench-items", steps=(step,), path="<bench>")


def writes_playbook(n: int) -> Playbook:
    step = Step(
        id="writes",
        uses="bench.write",
        for_each=list(range(n)),
        with_={"value": "{{ item }}"},
        max_targets=n,
    )
    return Playbook(name="bench-writes", steps=(step,), path="<bench>")


def compile_all(pb: Playbook) -> None:
    """What loading does: every template is compiled once, before the run (cached by text)."""
    for step in pb.steps:
        for source in iter_templates([dict(step.with_), step.for_each, step.if_]):
            compile_template(source)


def timed(pb: Playbook, run_dir: Path) -> tuple[float, Path]:
    start = time.perf_counter()
    result = run_playbook(pb, {}, registry=REGISTRY, run_dir=run_dir, approve=True)
    elapsed = time.perf_counter() - start
    assert result.status == "succeeded", result.error
    assert verify(result.run_log).code == 0
    return elapsed, result.run_log


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--writes", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        timed(steps_playbook(10), run_dir)  # warm caches (template compilation, imports)
        compile_template.cache_clear()
        steps_pb, items_pb = steps_playbook(args.steps), items_playbook(args.items)
        start = time.perf_counter()
        compile_all(steps_pb)
        compile_all(items_pb)
        c_time = time.perf_counter() - start
        s_time, s_log = timed(steps_pb, run_dir)
        i_time, i_log = timed(items_pb, run_dir)
        print(
            f"compiling {args.steps + 1} distinct templates (once, at load): {c_time:.3f}s, "
            f"{c_time / (args.steps + 1) * 1000:.3f} ms each"
        )
        print(
            f"{args.steps} steps: {s_time:.3f}s total, {s_time / args.steps * 1000:.3f} ms/step "
            f"(run log {s_log.stat().st_size // 1024} KiB)"
        )
        print(
            f"for_each over {args.items} items: {i_time:.3f}s total, "
            f"{i_time / args.items * 1000:.3f} ms/item (run log {i_log.stat().st_size // 1024} KiB)"
        )
        w_time, w_log = timed(writes_playbook(args.writes), run_dir)
        print(
            f"for_each write over {args.writes} items (action.call + action.result, each "
            f"fsynced): {w_time:.3f}s total, {w_time / args.writes * 1000:.3f} ms/write "
            f"(run log {w_log.stat().st_size // 1024} KiB; informational, bound by the disk)"
        )


if __name__ == "__main__":
    main()
