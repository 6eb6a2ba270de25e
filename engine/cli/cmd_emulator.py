"""``soar emulator``: serve a local Auth0 tenant seeded with an attack scenario."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Annotated

import typer

from engine.textsafe import safe


def parse_rate(text: str) -> tuple[int, float]:
    burst, sep, rate = text.partition("/")
    try:
        b, r = int(burst), float(rate)
    except ValueError:
        raise typer.BadParameter("use BURST/RATE, e.g. 10/20", param_hint="--rate-limit") from None
    if not sep or b < 1 or r <= 0:
        raise typer.BadParameter("use BURST/RATE, e.g. 10/20", param_hint="--rate-limit")
    return b, r


def emulator_cmd(
    host: Annotated[
        str, typer.Option(help="Address to listen on (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port; 0 picks a free one.")] = 8765,
    scenario: Annotated[
        str,
        typer.Option(
            help="credential-stuffing, password-spray, breached-password, compromised-admin, quiet."
        ),
    ] = "credential-stuffing",
    seed: Annotated[int, typer.Option(help="Scenario seed.")] = 1,
    events: Annotated[
        int | None, typer.Option(help="Number of log events (default about 3,000).")
    ] = None,
    rate_limit: Annotated[
        str, typer.Option("--rate-limit", help="BURST/RATE per second for /api/v2.")
    ] = "10/20",
    fail_rate: Annotated[
        float, typer.Option("--fail-rate", help="Fraction of /api/v2 requests answered 503.")
    ] = 0.0,
    latency: Annotated[
        float, typer.Option("--latency", help="Added latency per request, ms.")
    ] = 0.0,
    token_ttl: Annotated[
        float, typer.Option("--token-ttl", help="Access token lifetime, seconds.")
    ] = 86400,
    client_id: Annotated[
        str | None, typer.Option("--client-id", help="Client id (default generated).")
    ] = None,
    client_secret: Annotated[
        str | None, typer.Option("--client-secret", help="Client secret (default generated).")
    ] = None,
    journal: Annotated[
        Path | None, typer.Option("--journal", help="Append every request to this JSON-lines file.")
    ] = None,
    truth: Annotated[
        Path | None, typer.Option("--truth", help="Write the scenario's ground truth here.")
    ] = None,
    logs: Annotated[
        Path | None, typer.Option("--logs", help="Serve this exported log file as the tenant.")
    ] = None,
    now: Annotated[
        str | None, typer.Option("--now", help="Anchor time (ISO 8601) for reproducible scenarios.")
    ] = None,
    tls: Annotated[
        bool,
        typer.Option(
            "--tls",
            help="Serve HTTPS with a throwaway CA; prints SSL_CERT_FILE for clients to trust it.",
        ),
    ] = False,
    ca_file: Annotated[
        Path | None,
        typer.Option(
            "--ca-file", help="With --tls: write the CA certificate here (default a temp file)."
        ),
    ] = None,
    attacker_continues: Annotated[
        float,
        typer.Option(
            "--attacker-continues",
            help="Every S seconds the scenario's attacker tries again from every attacker address "
            "(refused once blocked, as Auth0 does); 0: off.",
        ),
    ] = 0.0,
) -> None:
    """Serve a local Auth0 tenant (logs, users, blocks, sessions) with Auth0's limits and errors."""
    from engine.emulator import start_emulator
    from engine.errors import UsageError
    from engine.httpguard import is_loopback
    from engine.timeutil import parse_time

    if attacker_continues < 0:
        raise UsageError("--attacker-continues takes seconds, 0 or more")
    if ca_file is not None and not tls:
        raise UsageError("--ca-file goes with --tls (add --tls, or drop --ca-file)")
    emu = start_emulator(
        scenario=scenario,
        seed=seed,
        events=events,
        rate_limit=parse_rate(rate_limit),
        fail_rate=fail_rate,
        latency_ms=latency,
        token_ttl=token_ttl,
        host=host,
        port=port,
        client_id=client_id,
        client_secret=client_secret,
        now=parse_time(now) if now else None,
        logs_file=logs,
        journal_path=journal,
        tls=tls,
        ca_file=ca_file,
    )
    if truth is not None:
        # written before the settings are printed: a script that has read them can read it
        try:
            truth.write_text(json.dumps(emu.truth, indent=2, ensure_ascii=False), encoding="utf-8")
        except OSError as exc:
            emu.stop()
            raise UsageError(f"cannot write --truth {truth}: {exc.strerror}") from None
    for key, value in emu.env().items():
        sys.stdout.write(f"export {key}={value}\n")
    sys.stdout.flush()
    typer.echo(
        f"soar emulator: {safe(emu.truth.get('scenario'))} ({emu.truth.get('events')} events) "
        f"at {emu.base_url}; Ctrl-C to stop",
        err=True,
    )
    if not is_loopback(host):
        typer.echo(
            f"warning: listening on {safe(host)}, not loopback: anyone who can reach it and "
            "knows the client secret can read the emulated tenant",
            err=True,
        )
    stop = threading.Event()
    if attacker_continues > 0:
        from engine.emulator.reactions import continue_attack

        def attack() -> None:
            while not stop.wait(attacker_continues):
                continue_attack(emu.tenant, emu.truth)

        threading.Thread(target=attack, name="soar-attacker", daemon=True).start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stop.set()
        emu.stop()


def register(app: typer.Typer) -> None:
    app.command("emulator")(emulator_cmd)
