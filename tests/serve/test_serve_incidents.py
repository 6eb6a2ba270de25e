"""Incidents and their responses across a crash: SIGKILL mid-response, restart, nothing repeats.

A real ``soar serve``; the response playbook's one step is a lookup
(``http.request`` GET, ``effect: read``: it runs in a dry run) to the
recording server, which holds it, so the kill lands while the response runs.
The webhook of the notifications is the same recording server.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from localserver import Route, recording_server
from serving import incidents, item, jsonl, serving
from soarcli import soar, wait_until

PLAYBOOK = """
playbook: 1
name: serve-lookup
description: looks the group up; the test server holds the request
inputs:
  who: {type: string, required: true}
  since: {type: string, required: true}
  url: {type: string, required: true}
steps:
  - id: lookup
    uses: http.request
    with: {method: GET, url: "{{ inputs.url }}", effect: read}
outputs:
  who: "{{ inputs.who }}"
"""
RULE = """
detection: 1
id: user-failures
title: Failures for one account
description: three failed logins for one user name
severity: high
select: 'type:"fp" OR type:"fu"'
group_by: [user_name]
window: 10m
quiet: 30m
threshold:
  count: {gte: 3}
response:
  playbook: ../playbooks/lookup.yaml
  inputs: {who: "{{ group.user_name }}", since: "{{ incident.first }}", url: "URL/hold"}
  respond: auto
  max_targets: 1
"""
HOSTILE = "{{ 7*7 }}<!channel>&\x1b[31mred"
HOOK = "/services/T0000/B0000/hook-Secret-part-42"


def _fails(prefix: str, user: str, n: int, minute: int = 0) -> str:
    return jsonl(
        [
            item(
                f"{prefix}-{i}",
                type="fp",
                user_name=user,
                ip="203.0.113.7",
                date=f"2026-11-20T10:{minute:02d}:{i:02d}.000Z",
            )
            for i in range(n)
        ]
    )


def test_a_killed_response_is_reported_interrupted_and_never_started_again(
    tmp_path: Path,
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    hold = threading.Event()
    with recording_server() as server:
        server.routes["/hold"] = Route(hold=hold)
        (tmp_path / "playbooks").mkdir()
        (tmp_path / "playbooks" / "lookup.yaml").write_text(PLAYBOOK)
        (rules / "user-failures.yaml").write_text(RULE.replace("URL", server.url))
        env = {"SOAR_HTTP_READ_HOSTS": "127.0.0.1", "SOAR_NOTIFY_WEBHOOK": server.url + HOOK}
        args = ["--detections", str(rules), "--run-dir", str(tmp_path / "runs")]
        state = tmp_path / "state"
        with serving(state, args, env) as served:
            assert served.post(_fails("a", HOSTILE, 3)).json() == {"stored": 3, "duplicates": 0}
            wait_until(served.proc, lambda: server.hits.get("/hold", 0) == 1)
            wait_until(served.proc, lambda: server.count("POST", HOOK) == 1)  # opened
            served.kill()  # SIGKILL while the response's lookup is held
        (first,) = incidents(state)
        assert first["response"]["status"] == "started"
        assert first["response"]["mode"] == "dry-run"  # the rule says auto; serve did not
        run_log = first["response"]["run_log"]
        assert run_log and Path(run_log).is_file()

        with serving(state, args, env) as served:
            health = served.wait_consumed()
            assert health["stored"] == 3  # every acknowledged event survived the kill
            # the same attack goes on (and a batch is redelivered): the incident grows
            assert served.post(_fails("a", HOSTILE, 3)).json()["duplicates"] == 3
            assert served.post(_fails("b", HOSTILE, 2, minute=1)).json()["stored"] == 2
            hold.set()
            # a second account: a new incident whose response runs to its end
            served.post(_fails("c", "victim@example.com", 3, minute=2))
            wait_until(
                served.proc,
                lambda: any(
                    (i["response"] or {}).get("status") == "succeeded" for i in incidents(state)
                ),
            )
            served.wait_consumed()
            out, err = served.stop()
        assert server.hits["/hold"] == 2  # one per incident: the killed one never ran again
        found = {i["group"]["user_name"]: i for i in incidents(state)}
        assert set(found) == {HOSTILE, "victim@example.com"}
        killed, done = found[HOSTILE], found["victim@example.com"]
        assert killed["id"] == first["id"] and killed["evidence"] == 5
        assert killed["response"]["status"] == "interrupted"
        assert killed["response"]["run_log"] == run_log
        assert killed["response"]["inputs"]["who"] == HOSTILE  # data, never rendered again
        assert done["response"]["status"] == "succeeded" and done["evidence"] == 3
        records = [
            json.loads(line) for line in Path(done["response"]["run_log"]).read_text().splitlines()
        ]
        assert records[0]["dry_run"] is True and records[-1]["status"] == "succeeded"
        assert records[0]["inputs"]["since"] == "2026-11-20T10:02:00.000Z"

        texts = [r.body["text"] for r in server.requests if r.path == HOOK]
        assert any("opened" in t and "user-failures" in t for t in texts)
        assert any("interrupted" in t for t in texts) and any("succeeded" in t for t in texts)
        for text in texts:  # a hostile user name cannot mention, link or colour
            assert "<!channel>" not in text and "\x1b" not in text
        assert any("&lt;!channel&gt;&amp;\\x1b[31mred" in t for t in texts)
        assert "hook-Secret-part-42" not in out + err

    shown = soar("incidents", "show", str(killed["id"]), "--state", str(state))
    assert shown.returncode == 0, shown.stderr
    assert "interrupted" in shown.stdout and run_log in shown.stdout
    assert "\x1b" not in shown.stdout and "\\x1b[31mred" in shown.stdout
    assert "a-0" in shown.stdout and "b-1" in shown.stdout
    missing = soar("incidents", "show", "999", "--state", str(state), "--json")
    assert missing.returncode == 2 and "no incident 999" in json.loads(missing.stdout)["error"]
