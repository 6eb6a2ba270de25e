"""``soar serve`` as the Auth0 log stream meets it: a real process on port 0, posted to with httpx.

Every content format stored once; a bad or missing token, a body that is not
a batch, an oversize body: refused with nothing stored; a redelivered batch
adds nothing; the token never comes back in an answer or a log line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serving import TOKEN, Served, item, jsonl, launch
from soarcli import soar

DATA = Path(__file__).resolve().parent.parent / "data" / "auth0"
SECOND = "rotated-Token-9876543210"
NEVER = (
    "detection: 1\nid: never\ntitle: Never here\ndescription: no event of these tests matches\n"
    "severity: low\nselect: 'type:\"ublkdu\"'\ngroup_by: [ip]\nwindow: 1m\n"
    "threshold:\n  count: {gte: 1}\n"
)  # a rule no event of these tests matches


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    rules = tmp_path_factory.mktemp("rules")
    (rules / "none.yaml").write_text(NEVER)
    state = tmp_path_factory.mktemp("state")
    env = {"SOAR_STREAM_TOKEN": f"{TOKEN},{SECOND}"}
    served = launch(state, ["--detections", str(rules)], env)
    yield served
    if served.proc.poll() is None:
        out, err = served.stop()
        assert TOKEN not in out + err and SECOND not in out + err


def _stored(served: Served) -> int:
    return int(served.wait_consumed()["stored"])


def test_each_content_format_is_stored_once(served: Served) -> None:
    before = _stored(served)
    lines = (DATA / "stream.jsonl").read_bytes()
    reply = served.post(lines, **{"Content-Type": "application/json"})
    # its line 14 is line 1 delivered again (at-least-once delivery): stored once
    assert reply.status_code == 200 and reply.json() == {"stored": 13, "duplicates": 1}
    array = (DATA / "stream-array.json").read_bytes()
    assert served.post(array).json() == {"stored": 8, "duplicates": 0}
    body = (DATA / "webhook-body.json").read_bytes()
    assert served.post(body, token=f"Bearer {SECOND}").json() == {"stored": 7, "duplicates": 0}
    one = json.loads(array)[0]
    one = {**one, "log_id": "one-item", "data": {**one["data"], "log_id": "one-item"}}
    assert served.post(json.dumps(one)).json() == {"stored": 1, "duplicates": 0}
    health = served.wait_consumed()
    assert health["stored"] == before + 29 and health["queue"] == 0
    assert health["last_event"] >= "2026-11-04"


def test_a_redelivered_batch_adds_nothing(served: Served) -> None:
    batch = jsonl([item(f"re-{i}", type="s", date="2026-11-20T10:00:00.000Z") for i in range(5)])
    assert served.post(batch).json() == {"stored": 5, "duplicates": 0}
    before = _stored(served)
    assert served.post(batch).json() == {"stored": 0, "duplicates": 5}
    overlap = jsonl(
        [item(f"re-{i}", type="s", date="2026-11-20T10:00:00.000Z") for i in range(3, 8)]
    )
    assert served.post(overlap).json() == {"stored": 3, "duplicates": 2}
    assert _stored(served) == before + 3


@pytest.mark.parametrize(
    "token",
    [None, "", "wrong-token-000000000", f"Bearer {TOKEN}x", TOKEN[:-1], f"{TOKEN},{SECOND}"],
)
def test_a_missing_or_wrong_token_stores_nothing(served: Served, token: str | None) -> None:
    before = _stored(served)
    reply = served.post(jsonl([item("unauthorized", type="s")]), token=token)
    assert reply.status_code == 401
    assert "nothing was stored" in reply.json()["error"]
    assert _stored(served) == before


def test_a_body_that_is_not_a_batch_is_400_with_the_reason(served: Served) -> None:
    before = _stored(served)
    good = item("fine-1", type="s")
    reply = served.post(jsonl([good]) + '{"log_id": "x", "data": 3}\n')
    assert reply.status_code == 400
    assert reply.json()["error"].startswith('line 2: "data" is missing or not an object')
    assert _stored(served) == before  # the good line of the batch was not kept either


def test_an_oversize_body_is_413(served: Served) -> None:
    before = _stored(served)
    huge = b"[" + b" " * (16 * 1024 * 1024 + 1) + b"]"
    reply = served.post(huge)
    assert reply.status_code == 413 and "over" in reply.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap holds while reading
        yield b"["
        for _ in range(17):
            yield b" " * (1024 * 1024)
        yield b"]"

    reply = httpx.post(
        f"{served.url}/auth0/logs", content=chunks(), headers={"Authorization": TOKEN}
    )
    assert reply.status_code == 413
    assert _stored(served) == before


def test_the_token_is_never_echoed(served: Served) -> None:
    """An attack on the promise: the token sent where a value is expected comes back nowhere."""
    for body in (TOKEN, f'[{{"log_id": "{TOKEN}" , "data": 1}}]', f'{{"log_id": {TOKEN}}}'):
        reply = served.post(body)
        assert reply.status_code == 400 and TOKEN not in reply.text
    reply = served.post(jsonl([item("t-1")]), token=f"{TOKEN} trailing")
    assert reply.status_code == 401 and TOKEN not in reply.text
    assert TOKEN not in httpx.get(f"{served.url}/healthz").text


def test_serve_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    done = soar("serve", "--port", "0", "--state", str(tmp_path))
    assert done.returncode == 2 and "no stream token" in done.stderr
    every = "0.0.0.0"  # noqa: S104 -- the address serve must refuse without a token
    done = soar("serve", "--host", every, "--insecure-no-token", "--state", str(tmp_path))
    assert done.returncode == 2 and "loopback address only" in done.stderr
    weak = soar(
        "serve", "--port", "0", "--state", str(tmp_path), env={"SOAR_STREAM_TOKEN": f"{TOKEN},abc"}
    )
    assert weak.returncode == 2 and "too weak" in weak.stderr
    assert "abc" not in weak.stderr and TOKEN not in weak.stderr  # neither token is shown
    assert not os.path.exists(tmp_path / "soar-serve.sqlite3")


def test_insecure_no_token_on_loopback_accepts_batches(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "none.yaml").write_text(NEVER)
    served = launch(tmp_path / "state", ["--insecure-no-token", "--detections", str(rules)])
    try:
        assert served.post(jsonl([item("open-1", type="s")]), token=None).status_code == 200
    finally:
        served.stop()
