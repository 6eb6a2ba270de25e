"""Every playbook the docs and examples/ show is run, and its output is what the text says;
the README's tour without a tenant is run by ``sh`` as written.

Each ```yaml block of ``docs/*.md`` is taken from the Markdown as written: a
whole playbook runs as a dry run against the emulator (credential-stuffing, the
scenario the examples are about); a fragment (``inputs:``, a step, ``outputs:``)
runs inside the page's first playbook, in place of the part it shows; a drill
is loaded and checked against the drill schema; a detection rule is loaded and its
tests pass. Nothing may render as a Python
object (``<built-in method values ...>`` was the first example's output).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.actions import default_registry
from engine.drills.drill import client_from_emulator, load_drill
from engine.emulator import RunningEmulator, start_emulator
from engine.playbook.loader import load_playbook_text
from engine.run.executor import run_playbook
from engine.run.state import RunResult
from engine.serve.rules import load_rules
from engine.serve.ruletests import run_rule_tests

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```ya?ml\n(.*?)^```", re.DOTALL | re.MULTILINE)
PYTHON_OBJECT = re.compile(r"<(built-in|bound) method|<function |object at 0x")


def doc_blocks() -> list[tuple[str, int, str]]:
    """``(file, line, text)`` of every YAML block in the docs."""
    found = []
    for page in sorted((ROOT / "docs").glob("*.md")):
        text = page.read_text(encoding="utf-8")
        for m in BLOCK.finditer(text):
            found.append((page.name, text[: m.start()].count("\n") + 1, m.group(1)))
    return found


BLOCKS = doc_blocks()


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    with start_emulator(scenario="credential-stuffing", seed=1, events=1500) as e:
        yield e


def run(emu: RunningEmulator, doc: dict[str, Any], inputs: dict[str, Any], tmp: Path) -> RunResult:
    registry = default_registry()
    playbook = load_playbook_text(yaml.safe_dump(doc, sort_keys=False), registry)
    result = run_playbook(
        playbook,
        inputs,
        registry=registry,
        dry_run=True,
        run_dir=tmp,
        auth0_factory=client_from_emulator(emu),
        # the retry example's health check is a lookup to this (closed) loopback port
        http_read_hosts=["127.0.0.1:9"],
    )
    shown = json.dumps(result.outputs, default=repr) + result.run_log.read_text(encoding="utf-8")
    assert not PYTHON_OBJECT.search(shown), PYTHON_OBJECT.search(shown)
    assert result.status == "succeeded", result.error
    return result


def first_playbook(page: str) -> dict[str, Any]:
    for name, _, text in BLOCKS:
        data = yaml.safe_load(text)
        if name == page and isinstance(data, dict) and "playbook" in data:
            return data
    raise AssertionError(f"{page} has no whole playbook to run fragments in")


def inputs_for(doc: dict[str, Any], emu: RunningEmulator) -> dict[str, Any]:
    """Required inputs from the scenario's truth (the attacker's IP, a compromised user)."""
    truth = emu.truth
    known = {"ip": truth["attacker_ips"][0], "user_id": truth["compromised_users"][0]}
    return {
        name: known[name]
        for name, spec in (doc.get("inputs") or {}).items()
        if spec.get("required") and name in known
    }


def test_the_docs_have_examples_to_run() -> None:
    assert any(name == "playbook-language.md" for name, _, _ in BLOCKS)


@pytest.mark.parametrize(("page", "line", "text"), BLOCKS, ids=[f"{p}:{n}" for p, n, _ in BLOCKS])
def test_a_docs_example_runs_as_the_docs_say(
    page: str, line: int, text: str, emu: RunningEmulator, tmp_path: Path
) -> None:
    data = yaml.safe_load(text)
    truth = emu.truth
    if data is None:  # a comment only (the editor's schema line)
        assert text.lstrip().startswith("#")
        return
    if isinstance(data, dict) and "detection" in data:  # a whole rule: its own tests pass
        rule_file = tmp_path / "rule.yaml"
        rule_file.write_text(text, encoding="utf-8")
        results = run_rule_tests(load_rules([rule_file]))
        assert results and all(r.passed for r in results), [r.why for r in results]
        return
    if isinstance(data, dict) and "drill" in data:
        drill = tmp_path / "drill.yaml"
        drill.write_text(text.replace("../playbooks/", f"{ROOT}/playbooks/"), encoding="utf-8")
        assert load_drill(drill).scenario == data["scenario"]
        return
    base = first_playbook(page)
    if isinstance(data, dict) and "playbook" in data:
        doc = data
    elif isinstance(data, dict) and set(data) == {"inputs"}:
        doc = {**base, "inputs": {**base["inputs"], **data["inputs"]}}
        doc["outputs"] = {name: f"{{{{ inputs.{name} }}}}" for name in data["inputs"]}
    elif isinstance(data, dict) and set(data) == {"outputs"}:
        doc = {**base, "outputs": data["outputs"]}
    elif isinstance(data, list):  # steps: each replaces the step of the same id
        shown = {s["id"]: s for s in data}
        doc = {**base, "steps": [shown.get(s["id"], s) for s in base["steps"]]}
    else:
        raise AssertionError(f"{page}:{line}: a YAML block this test does not know how to run")
    inputs = inputs_for(doc, emu)
    if "block" in doc.get("inputs", {}):
        inputs["block"] = True  # a dry run: the blocks are planned, and so shown
    result = run(emu, doc, inputs, tmp_path)
    out = result.outputs
    if "compromised_users" in out:
        # "who logged in from this IP": the accounts the attacker got into from it
        users = out["compromised_users"]
        assert isinstance(users, list) and users
        assert set(users) <= set(truth["compromised_users"])
    if "blocked_users" in out:  # a dry run blocks nobody: the blocks are planned
        assert out["blocked_users"] == []
    if "planned_user_blocks" in out:
        assert out["planned_user_blocks"] == out["compromised_users"]
    if "logins_seen" in out:
        assert isinstance(out["logins_seen"], int) and out["logins_seen"] >= len(
            out["compromised_users"]
        )
    block = result.steps.get("block")
    if block is not None and block.output:
        planned = [p["planned"][0]["path"] for p in block.output]
        assert len(planned) == len(out.get("compromised_users") or planned)
    if isinstance(data, dict) and set(data) == {"inputs"}:
        for name, spec in data["inputs"].items():
            if "default" in spec and name not in inputs:
                assert out[name] == spec["default"], name


EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))

# what each example's comments say it gives, worked out by hand from its defaults
EXPECTED: dict[str, Any] = {
    "conditions.yaml": {"values": [1, 2, 3], "verbose_count": None},
    "filter-and-shape.yaml": {"frequent_ips": ["203.0.113.7"], "counts": ["203.0.113.7"]},
    "for-each-parallel.yaml": {"found_per_item": [1, 1], "ips": ["203.0.113.7", "198.51.100.23"]},
    "retry-timeout.yaml": {"check_status": "failed", "verdict": "unreachable"},
}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_an_example_gives_what_it_says(path: Path, emu: RunningEmulator, tmp_path: Path) -> None:
    result = run(emu, yaml.safe_load(path.read_text(encoding="utf-8")), {}, tmp_path)
    out = result.outputs
    if path.name == "ip-extract.yaml":
        # 203.0.113.7 in two events' ip and one event's details, 10.0.0.8, and two from the
        # note; 999.1.1.1 is no address; only 1.1.1.1 is public (the rest are reserved ranges)
        counts = {row["ip"].lower(): row["count"] for row in out["ips"]}
        assert counts == {"203.0.113.7": 3, "10.0.0.8": 1, "2001:db8::7": 1, "1.1.1.1": 1}
        assert out["public_ips"] == ["1.1.1.1"]
    else:
        assert out == EXPECTED[path.name]


SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.DOTALL | re.MULTILINE)


def readme_block(after: str) -> str:
    """The first ```sh block of README.md after the text ``after``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = SH_BLOCK.search(text, text.index(after))
    assert found, f"README.md has no sh block after {after!r}"
    return found.group(1)


def test_the_readme_tour_without_a_tenant_runs_as_written(tmp_path: Path) -> None:
    """The README's emulator block, run by sh as a newcomer pastes it: emulator, dry run, containment."""
    script = readme_block("**Try every command without a tenant.**")
    bin_dir = tmp_path / "bin"  # `soar` on PATH is this checkout's, whatever the venv's layout
    bin_dir.mkdir()
    (bin_dir / "soar").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m engine "$@"\n')
    (bin_dir / "soar").chmod(0o755)
    (tmp_path / "playbooks").symlink_to(ROOT / "playbooks")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOAR_", "AUTH0_"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen(
        ["sh", "-e", "-c", script],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # the emulator it starts in the background is in this group
    )
    try:
        out, err = proc.communicate(timeout=90)  # returns once the emulator has exited too
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # a failed step left the emulator running
    assert proc.returncode == 0, err[-3000:]
    assert "would block auth0|" in err and "would block IP " in err  # the dry run
    assert re.search(r"^ +blocked auth0\|\S+: changed$", err, re.MULTILINE), err[-3000:]
    assert "soar emulator: stopped; removed emu.env" in err
    assert not (tmp_path / "emu.env").exists() and "AUTH0_CLIENT_SECRET" not in out
