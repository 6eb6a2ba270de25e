"""``soar emulator``: serve a local Auth0 tenant seeded with an attack scenario.

The settings that point a client at it (``RunningEmulator.env()``) go, once it
listens, to stdout as ``export KEY=value`` lines, or with ``--env-file F`` to
``F`` (``engine.emulator.envfile``: mode 0600, atomic, removed on exit) and to
stdout only with ``--print-env``. It serves until SIGINT (Ctrl-C) or SIGTERM
(``kill``, a script's cleanup) and then stops cleanly with exit 0.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
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
    env_file: Annotated[
        Path | None,
        typer.Option(
            "--env-file",
            help="Write the settings to this file (export KEY='value', mode 0600) once serving, "
            "for a script to source; removed on exit. Stdout then stays quiet.",
        ),
    ] = None,
    print_env: Annotated[
        bool,
        typer.Option(
            "--print-env", help="Print the settings on stdout (the default without --env-file)."
        ),
    ] = False,
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
    from engine.emulator.envfile import EnvFile, export_lines, write_env_file
    from engine.errors import UsageError
    from engine.httpguard import is_loopback
    from engine.timeutil import parse_time

    if attacker_continues < 0:
        raise UsageError("--attacker-continues takes seconds, 0 or more")
    if ca_file is not None and not tls:
        raise UsageError("--ca-file goes with --tls (add --tls, or drop --ca-file)")
    if env_file is not None and not env_file.parent.is_dir():  # said now, not after the start
        raise UsageError(f"--env-file {env_file}: its folder does not exist (create it first)")
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
    stop = threading.Event()
    _stop_on_signals(stop)  # before the settings are out: a script may signal right after
    written: EnvFile | None = None
    if env_file is not None:
        try:
            written = write_env_file(env_file, emu.env())
        except OSError as exc:
            emu.stop()
            raise UsageError(f"cannot write --env-file {env_file}: {exc.strerror}") from None
    if env_file is None or print_env:
        sys.stdout.write("".join(f"{line}\n" for line in export_lines(emu.env())))
        sys.stdout.flush()
    where = f"; settings in {safe(env_file)} (. {safe(env_file)})" if env_file else ""
    typer.echo(
        f"soar emulator: {safe(emu.truth.get('scenario'))} ({emu.truth.get('events')} events) "
        f"at {emu.base_url}{where}; Ctrl-C to stop",
        err=True,
    )
    if not is_loopback(host):
        typer.echo(
            f"warning: listening on {safe(host)}, not loopback: anyone who can reach it and "
            "knows the client secret can read the emulated tenant",
            err=True,
        )
    if attacker_continues > 0:
        from engine.emulator.reactions import continue_attack

        def attack() -> None:
            while not stop.wait(attacker_continues):
                continue_attack(emu.tenant, emu.truth)

        threading.Thread(target=attack, name="soar-attacker", daemon=True).start()
    try:
        stop.wait()
    finally:
        stop.set()
        removed = written is not None and written.remove()  # its secret dies with this tenant
        emu.stop()
    typer.echo(
        f"soar emulator: stopped{f'; removed {safe(env_file)}' if removed else ''}", err=True
    )


def _stop_on_signals(stop: threading.Event) -> None:
    """SIGINT and SIGTERM end the serving loop (exit 0), not the process mid-write."""

    def handle(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handle)


def register(app: typer.Typer) -> None:
    app.command("emulator")(emulator_cmd)
