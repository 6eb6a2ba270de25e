"""A signed run log: a forger who rebuilds the hash chain is caught by the signature.

The forger here has write access to the run log and knows the documented
hashing formula (docs/run-log.md), but not the operator's private key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from executor_actions import playbook
from localserver import RecordingServer, Route, recording_server
from soarcli import soar

from engine.actions import default_registry
from engine.audit.redact import Redactor
from engine.audit.report import render
from engine.audit.runlog import RunLogWriter, read_records, verify
from engine.audit.signatures import signature_fields
from engine.audit.signing import Signer, load_private, load_public, signer_from
from engine.errors import ConfigError, RunLogError
from engine.run.executor import run_playbook
from engine.run.resume import resume_run
from engine.run.state import RunResult

ROOT = Path(__file__).resolve().parents[2]
CONTAIN = """
playbook: 1
name: contain
steps:
  - id: block
    uses: http.request
    with: {method: POST, url: "URL/block", json: {user: "auth0|victim"}}
outputs:
  status: "{{ steps.block.output.status }}"
"""


@pytest.fixture(scope="module")
def shared_server() -> Iterator[RecordingServer]:
    with recording_server() as s:  # one per module: each shutdown costs half a second
        yield s


@pytest.fixture
def server(shared_server: RecordingServer) -> RecordingServer:
    with shared_server.lock:
        shared_server.requests.clear()
        shared_server.hits.clear()
    shared_server.routes.clear()
    return shared_server


def rechain(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a forger does: renumber and recompute every hash with the documented formula."""
    prev = "0" * 64
    out = []
    for seq, rec in enumerate(records):
        body = {k: v for k, v in rec.items() if k != "hash"}
        body.update(seq=seq, prev_hash=prev)
        if body["type"] == "run.signed":  # point the old signature at the new head
            body.update(signed_seq=seq - 1, signed_hash=prev)
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        body["hash"] = prev = hashlib.sha256(canonical.encode()).hexdigest()
        out.append(body)
    return out


def forge(path: Path, edit: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    records = rechain(edit(records))
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def hide_the_write(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Another operator; no approval, no write; the step looks skipped."""
    kept = []
    for rec in records:
        if rec["type"].startswith(("approval.", "action.")) or rec["type"] == "step.started":
            continue
        if rec["type"] == "run.started":
            rec["operator"] = "mallory"
        if rec["type"] == "step.finished":
            rec.update(status="skipped", duration_ms=0)
            rec.pop("output", None)
        kept.append(rec)
    return kept


def test_a_forger_who_rebuilds_the_chain_is_caught_by_the_signature(
    server: RecordingServer, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    gen = soar("keys", "generate", "-o", str(keys))
    assert gen.returncode == 0, gen.stderr
    pub = keys / "soar-signing.pub"
    pb = tmp_path / "contain.yaml"
    pb.write_text(CONTAIN.replace("URL", server.url), encoding="utf-8")
    env = {"SOAR_SIGNING_KEY_FILE": str(keys / "soar-signing.key")}
    run = soar("run", str(pb), "--yes", "--json", "--run-dir", str(tmp_path / "runs"), env=env)
    assert run.returncode == 0, run.stderr
    assert len(server.writes()) == 1
    log = json.loads(run.stdout)["run_log"]
    honest = soar("verify", log, "--public-key", str(pub))
    assert honest.returncode == 0, honest.stdout

    forge(Path(log), hide_the_write)
    text = Path(log).read_text(encoding="utf-8")
    assert "mallory" in text and "action.call" not in text and "approval." not in text

    plain = soar("verify", log)  # the chain holds again: alone, it cannot tell
    assert plain.returncode == 0 and "NOT checked" in plain.stdout, plain.stdout
    checked = soar("verify", log, "--public-key", str(pub))
    assert checked.returncode == 1, checked.stdout
    assert "signature" in checked.stdout and "does not verify" in checked.stdout


# -- the same attacks in process, one per forger strategy ----------------------


@pytest.fixture(scope="module")
def key() -> Signer:
    return Signer(Ed25519PrivateKey.generate())


def signed_run(
    tmp_path: Path, server: RecordingServer, signer: Signer | None, approve: bool | None = True
) -> RunResult:
    """A run of CONTAIN against the recording server, in process."""
    registry = default_registry()
    pb = playbook(CONTAIN.replace("URL", server.url), registry, tmp_path)
    return run_playbook(
        pb, {}, registry=registry, approve=approve, run_dir=tmp_path / "runs", signer=signer
    )


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_signed_run_declares_its_key_and_ends_with_a_signature(
    server: RecordingServer, tmp_path: Path, key: Signer
) -> None:
    result = signed_run(tmp_path, server, key)
    recs = load(result.run_log)
    assert recs[0]["type"] == "run.started" and recs[0]["signing_key_id"] == key.key_id
    assert [r["type"] for r in recs[-2:]] == ["run.finished", "run.signed"]
    sig = recs[-1]
    assert sig["signed_seq"] == recs[-2]["seq"] and sig["signed_hash"] == recs[-2]["hash"]
    assert sig["key_id"] == key.key_id and sig["alg"] == "ed25519"
    assert result.final_hash == sig["hash"]  # what `soar run` prints: --expect-hash covers it
    checked = verify(result.run_log, result.final_hash, key.public)
    assert (checked.code, checked.signing) == (0, "verified"), checked.message
    assert "1 signature(s) by key" in checked.message and "every record" in checked.message
    unchecked = verify(result.run_log)
    assert (unchecked.code, unchecked.signing) == (0, "unchecked")
    assert "NOT checked" in unchecked.message and key.key_id in unchecked.message


def strip_signatures(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    kept = [r for r in hide_the_write(records) if r["type"] != "run.signed"]
    kept[0].pop("signing_key_id")
    return kept


@pytest.mark.parametrize(
    ("edit", "code_without_key", "with_key"),
    [
        (hide_the_write, 0, "does not verify"),  # old signature re-pointed at the new head
        (strip_signatures, 0, "not signed"),  # made to look like an unsigned log
        (lambda r: r[:-1], 1, "not followed by its signature"),  # the signature dropped
    ],
)
def test_each_forgery_without_the_key_fails_with_the_public_key(
    server: RecordingServer,
    tmp_path: Path,
    key: Signer,
    edit: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
    code_without_key: int,
    with_key: str,
) -> None:
    log = signed_run(tmp_path, server, key).run_log
    forge(log, edit)
    plain = verify(log)
    assert plain.code == code_without_key, plain.message
    if plain.code == 0:  # the chain holds: only the key can tell, and verify says so
        assert "NOT checked" in plain.message or "UNSIGNED" in plain.message
    checked = verify(log, public_key=key.public)
    assert checked.code == 1 and with_key in checked.message, checked.message


def test_a_log_re_signed_with_the_forgers_own_key_fails_with_the_real_one(
    server: RecordingServer, tmp_path: Path, key: Signer
) -> None:
    log = signed_run(tmp_path, server, key).run_log
    mallory = Signer(Ed25519PrivateKey.generate())

    def resign(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        kept = [r for r in hide_the_write(records) if r["type"] != "run.signed"]
        kept[0]["signing_key_id"] = mallory.key_id
        return kept

    forge(log, resign)
    recs = load(log)  # mallory signs the rebuilt head with her key, as soar would
    head = recs[-1]
    recs.append(
        {"seq": len(recs), "ts": head["ts"], "run_id": head["run_id"], "type": "run.signed"}
        | signature_fields(mallory, head["run_id"], head["seq"], head["hash"])
    )
    log.write_text("".join(json.dumps(r) + "\n" for r in rechain(recs)), encoding="utf-8")
    assert verify(log, public_key=mallory.public).code == 0  # genuinely mallory's signature
    plain = verify(log)
    assert plain.code == 0 and mallory.key_id in plain.message  # the key id shows whose
    checked = verify(log, public_key=key.public)
    assert checked.code == 1 and "not by the given public key" in checked.message


def test_appended_records_after_the_last_signature_are_reported(
    server: RecordingServer, tmp_path: Path, key: Signer
) -> None:
    log = signed_run(tmp_path, server, key).run_log
    recs = load(log)
    fake = {"type": "approval.granted", "step": "block", "by": "operator", "targets": ["x"]}
    forge(log, lambda r: [*r, dict(recs[1], **fake)])
    check = verify(log, public_key=key.public)
    assert check.code == 3 and check.unsigned_tail == 1, check.message
    assert f"from seq {len(recs)} follow the last signature and are NOT signed" in check.message
    forge(log, lambda r: [*r, dict(recs[-2])])  # and a run.finished to look complete
    check = verify(log, public_key=key.public)
    assert check.code == 1 and "not followed by its signature" in check.message


def test_a_stop_for_approval_is_signed_and_a_killed_resume_leaves_an_unsigned_tail(
    tmp_path: Path, key: Signer
) -> None:
    with recording_server() as server:  # its own: a handler stays asleep after the kill
        killed_resume(server, tmp_path, key)


def killed_resume(server: RecordingServer, tmp_path: Path, key: Signer) -> None:
    server.routes["/block"] = Route(delay=30)  # the resume is killed while this write waits
    stopped = signed_run(tmp_path, server, key, approve=None)
    assert stopped.status == "awaiting_approval"
    log = stopped.run_log
    assert verify(log, public_key=key.public).code == 0
    signed_through = load(log)[-1]["seq"]

    key_file = tmp_path / "signing.key"
    key_file.write_bytes(key.pem())
    key_file.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOAR_", "AUTH0_"))}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine",
            "resume",
            str(log),
            "--yes",
            "--signing-key",
            str(key_file),
        ],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server.kill_when_hit(proc, "/block")
    check = verify(log, public_key=key.public)
    tail = len(load(log)) - signed_through - 1
    assert check.code == 3 and check.unsigned_tail == tail > 0, check.message
    assert f"the {tail} record(s) from seq {signed_through + 1} follow the last signature" in (
        check.message
    )

    with pytest.raises(RunLogError, match="resume it with its private key"):
        resume_run(log, registry=default_registry(), approve=True)
    with pytest.raises(RunLogError, match="not by the given key"):
        resume_run(
            log,
            registry=default_registry(),
            approve=True,
            signer=Signer(Ed25519PrivateKey.generate()),
        )
    server.routes["/block"] = Route()
    done = resume_run(
        log, registry=default_registry(), approve=True, resend_unknown=True, signer=key
    )
    assert done.status == "succeeded", done.error
    final = verify(log, done.final_hash, key.public)
    assert (final.code, final.unsigned_tail) == (0, 0), final.message
    assert "2 signature(s)" in final.message  # the stop for approval, and the end
    with pytest.raises(RunLogError, match="already finished"):  # run.signed is not the end
        resume_run(log, registry=default_registry(), approve=True, signer=key)


def test_an_unsigned_log_resumed_with_a_key_stays_unsigned(
    server: RecordingServer, tmp_path: Path, key: Signer
) -> None:
    stopped = signed_run(tmp_path, server, None, approve=None)
    done = resume_run(stopped.run_log, registry=default_registry(), approve=True, signer=key)
    assert done.status == "succeeded"
    assert "run.signed" not in stopped.run_log.read_text()
    check = verify(stopped.run_log)
    assert (check.code, check.signing) == (0, "unsigned") and "UNSIGNED" in check.message


def test_a_torn_signature_is_incomplete_and_resume_signs_again(tmp_path: Path, key: Signer) -> None:
    path = tmp_path / "r.jsonl"
    w = RunLogWriter(path, "run-1", Redactor(), signer=key)
    w.write("run.started", signing_key_id=key.key_id)
    w.write("run.finished", status="awaiting_approval", outputs={}, records=2)
    w.close()
    whole = path.read_bytes()
    path.write_bytes(whole[: whole.rindex(b'"signature"')])  # the crash hit the signature's line
    check = verify(path, public_key=key.public)
    assert check.code == 3 and "signature after seq 1 is torn" in check.message
    again = RunLogWriter.reopen(path, Redactor(), key)
    again.close()
    assert [r["type"] for r in load(path)] == ["run.started", "run.finished", "run.signed"]
    assert verify(path, public_key=key.public).code == 0


def test_the_signing_key_is_masked_wherever_the_runs_redactor_is(
    tmp_path: Path, key: Signer
) -> None:
    redactor = Redactor()
    w = RunLogWriter(tmp_path / "r.jsonl", "run-1", redactor, signer=key)
    raw = key.secret_forms()[0]  # base64 of the raw private key
    rec = w.write("step.finished", error=f"boom {raw} {key.pem().decode()}")
    w.close()
    assert raw not in json.dumps(rec) and raw not in (tmp_path / "r.jsonl").read_text()
    assert "MC4CAQAwBQYDK2VwBCIEI" not in json.dumps(rec)  # the PKCS#8 body of any Ed25519 key
    assert redactor.text(f"x{raw}x") == "x***x"
    assert key.key_id in repr(key) and raw not in repr(key) + str(key)


# -- keys and the command line --------------------------------------------------


def test_keys_generate_then_sign_with_the_key_text_and_verify_with_the_printed_key(
    server: RecordingServer, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    gen = soar("keys", "generate", "-o", str(keys))
    assert gen.returncode == 0, gen.stderr
    private, public = keys / "soar-signing.key", keys / "soar-signing.pub"
    assert private.stat().st_mode & 0o777 == 0o600
    pem = private.read_text()
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    body = pem.splitlines()[1]  # the base64 of the whole PKCS#8 key
    assert body not in gen.stdout + gen.stderr
    printed = gen.stdout.strip()  # stdout is the public key alone
    assert len(base64.b64decode(printed)) == 32 and "\n" not in printed
    again = soar("keys", "generate", "-o", str(keys))
    assert again.returncode == 2 and "never overwrites" in again.stderr
    assert private.read_text() == pem

    pb = tmp_path / "contain.yaml"
    pb.write_text(CONTAIN.replace("URL", server.url), encoding="utf-8")
    runs = tmp_path / "runs"
    run = soar("run", str(pb), "--yes", "--run-dir", str(runs), env={"SOAR_SIGNING_KEY": pem})
    assert run.returncode == 0, run.stderr
    assert "signing: the run log is signed with key ed25519:" in run.stderr
    log = next(runs.glob("*.jsonl"))
    text = log.read_text()
    for form in key_forms(pem):
        assert form not in text and form not in run.stderr + run.stdout
    ok = soar("verify", str(log), "--require-signature", env={"SOAR_VERIFY_KEY": printed})
    assert ok.returncode == 0 and "signature(s) by key" in ok.stdout, ok.stdout
    assert load_public(public.read_text(), "test").key_id == load_public(printed, "t").key_id
    shown = soar("show", str(log))
    assert shown.returncode == 0 and "-- signed records 0-" in shown.stdout
    assert "integrity: intact and complete" in shown.stdout and "NOT checked" in shown.stdout
    assert "signed by key ed25519:" in render(log)


def key_forms(pem: str) -> list[str]:
    return load_private(pem, "test").secret_forms()


def test_bad_keys_are_refused_before_the_run_without_showing_them(tmp_path: Path) -> None:
    pb = tmp_path / "p.yaml"
    pb.write_text(PLAIN, encoding="utf-8")
    runs = tmp_path / "runs"
    canary = "c2VjcmV0LWNhbmFyeS1rZXktdGV4dC0wMDQy"  # base64, but not of 32 bytes
    bad = soar("run", str(pb), "--run-dir", str(runs), env={"SOAR_SIGNING_KEY": canary})
    assert bad.returncode == 2 and "SOAR_SIGNING_KEY: not a private key" in bad.stderr
    assert canary not in bad.stderr + bad.stdout
    loose = tmp_path / "loose.key"
    loose.write_bytes(Signer(Ed25519PrivateKey.generate()).pem())
    loose.chmod(0o644)
    refused = soar("run", str(pb), "--run-dir", str(runs), "--signing-key", str(loose))
    assert refused.returncode == 2 and f"chmod 600 {loose}" in refused.stderr
    assert not runs.exists()  # nothing ran, nothing was logged
    both = {"SOAR_SIGNING_KEY": canary, "SOAR_SIGNING_KEY_FILE": str(loose)}
    with pytest.raises(ConfigError, match="keep one"):
        signer_from(None, both)

    unsigned = soar("run", str(pb), "--run-dir", str(runs))
    assert unsigned.returncode == 0 and "the run log is UNSIGNED" in unsigned.stderr
    log = str(next(runs.glob("*.jsonl")))
    need = soar("verify", log, "--require-signature")
    assert need.returncode == 2 and "needs the signer's public key" in need.stderr
    wrong = soar("verify", log, "--public-key", str(loose))
    assert wrong.returncode == 2 and "this is a private key" in wrong.stderr
    assert "BEGIN" not in wrong.stderr


PLAIN = """
playbook: 1
name: plain
steps:
  - id: a
    uses: data.set
    with: {value: 1}
"""


def test_a_hostile_webhook_answering_nan_cannot_make_the_log_non_standard(
    server: RecordingServer, tmp_path: Path
) -> None:
    server.routes["/block"] = Route(body={"score": float("nan"), "max": float("inf")})
    result = signed_run(tmp_path, server, None)
    assert result.status == "succeeded"
    assert "NaN" not in result.run_log.read_text().replace('"NaN"', "")
    assert read_records(result.run_log)  # the strict reader accepts every line
    assert verify(result.run_log).code == 0


def test_signed_records_match_the_published_schema(
    server: RecordingServer, tmp_path: Path, key: Signer
) -> None:
    schema = json.loads((ROOT / "schemas" / "runlog.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    log = signed_run(tmp_path, server, key).run_log
    recs = load(log)
    for rec in recs:
        assert list(validator.iter_errors(rec)) == [], rec
    assert list(validator.iter_errors({**recs[-1], "signature": 5}))
    assert list(validator.iter_errors({**recs[0], "signing_key_id": "rsa:1"}))
