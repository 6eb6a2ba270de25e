"""What an operator sees of writes: the approval prompt, one line per write, dry-run wording.

Each test drives the real ``soar run`` against one small emulated tenant of
this module; the tests touch different users, so their order does not matter.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from soarcli import run_on_a_terminal, soar

from engine.emulator import RunningEmulator, start_emulator

HOSTILE_NAME = "Mallory\x1b[2J\x1b]0;owned\x07\u202eevil"  # clears the screen, retitles, reorders
BLOCK_EACH = """
playbook: 1
name: block-each
inputs:
  users: {type: array, required: true}
steps:
  - id: block
    uses: auth0.block_user
    for_each: "{{ inputs.users }}"
    max_parallel: 1
    with: {user_id: "{{ item }}"}
outputs:
  blocked_users: "{{ inputs.users if steps.block.status == 'succeeded' else [] }}"
"""


@pytest.fixture(scope="module")
def tenant() -> Iterator[RunningEmulator]:
    with start_emulator(scenario="credential-stuffing", seed=1, events=300) as emu:
        yield emu


def user(tenant: RunningEmulator, n: int, *, blocked: bool = False) -> str:
    """The n-th legitimate user, in the given state before the test."""
    uid = str(tenant.truth["legitimate_users"][n])
    tenant.tenant.users[uid]["blocked"] = blocked
    return uid


def block_each(
    tenant: RunningEmulator, tmp_path: Path, users: list[str], mode: str
) -> subprocess.CompletedProcess[str]:
    """``soar run`` of a playbook that blocks each of ``users`` (``--yes`` or ``--dry-run``)."""
    path = tmp_path / "block-each.yaml"
    path.write_text(BLOCK_EACH, encoding="utf-8")
    return soar(
        "run", str(path), "-i", f"users={json.dumps(users)}", mode,
        "--run-dir", str(tmp_path), env=tenant.env(),
    )  # fmt: skip


def test_the_prompt_shows_the_tenant_and_each_user_as_the_run_saw_it_escaped(
    tenant: RunningEmulator, tmp_path: Path
) -> None:
    uid = tenant.truth["compromised_users"][0]
    record = tenant.tenant.users[uid]
    logged = tenant.truth["compromised_user_names"][uid]  # the name its logins carry
    # the attacker took the account over: a new email, and a name that attacks the terminal
    record.update(email="taken-over@evil.example", name=HOSTILE_NAME)
    args = ["run", "playbooks/auth0-attack-triage.yaml", "-i", "block=true"]
    rc, screen = run_on_a_terminal([*args, "--run-dir", str(tmp_path)], b"n\n", env=tenant.env())
    assert rc == 3, screen  # denied: stopped awaiting approval, nothing written
    assert not any(tenant.tenant.users[u]["blocked"] for u in tenant.truth["compromised_users"])
    host = tenant.base_url.removeprefix("http://")
    assert "will run auth0.block_user on 3 target(s) in tenant " + host + ":" in screen
    (line,) = [x for x in screen.splitlines() if x.startswith(f"  - {uid}")]
    assert "email 'taken-over@evil.example'" in line and f"username {record['username']!r}" in line
    assert f"seen in the logs as {logged!r}" in line  # what the responder saw in the triage
    # every control and bidi character shown as an escape, none acted on
    assert "name 'Mallory\\x1b[2J\\x1b]0;owned\\x07\\u202eevil'" in line
    assert "\x1b[2J" not in screen and "\x07" not in screen and "\u202e" not in screen


@pytest.mark.parametrize(
    ("mode", "first", "said"),
    [
        # live: Auth0 answers 200 either way, so "already so" is the state the run read
        # before the write, and nothing is sent for it
        ("--yes", 1, ["blocked {fresh}: changed", "blocked {blocked}: already so"]),
        # dry: "would", never "blocked"
        (
            "--dry-run",
            3,
            ["would block {fresh}", "would block {blocked}: already so, nothing to send"],
        ),
    ],
)
def test_each_write_is_one_line_saying_what_changed(
    tenant: RunningEmulator, tmp_path: Path, mode: str, first: int, said: list[str]
) -> None:
    fresh, blocked = user(tenant, first), user(tenant, first + 1, blocked=True)
    before = len(tenant.tenant.writes())
    done = block_each(tenant, tmp_path, [fresh, blocked], mode)
    assert done.returncode == 0, done.stderr
    for line in said:
        assert f"           {line.format(fresh=fresh, blocked=blocked)}\n" in done.stderr
    sent = [w["path"] for w in tenant.tenant.writes()[before:]]
    if mode == "--yes":
        assert sent == ["/api/v2/users/" + fresh.replace("|", "%7C")]
    else:
        assert sent == [] and "blocked " not in done.stderr.replace("would block", "")


def test_a_dry_runs_outputs_say_planned_never_blocked(
    tenant: RunningEmulator, tmp_path: Path
) -> None:
    uid = user(tenant, 5)
    done = soar(
        "run", "playbooks/auth0-contain-user.yaml", "-i", f"user_id={uid}", "--dry-run",
        "--json", "--run-dir", str(tmp_path), env=tenant.env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["outputs"] == {
        "blocked": False,
        "sessions_revoked": False,
        "planned": ["block", "revoke_sessions"],
    }
    assert f"would revoke the sessions of {uid}\n" in done.stderr
    assert tenant.tenant.users[uid]["blocked"] is False
