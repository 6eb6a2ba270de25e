"""``soar emulator``: serve a local Auth0 tenant seeded with an attack scenario.

The settings that point a client at it (``RunningEmulator.env()``) go, once it
listens, to stdout as ``export KEY=value`` lines, or with ``--env-file F`` to
``F`` (``engine.emulator.envfile``: mode 0600, atomic, removed on exit) and to
stdout only with ``--print-env``. It serves until SIGINT (Ctrl-C) or SIGTERM
(``kill``, a script's cleanup) and then stops cleanly with exit 0.

With ``--stream-to URL`` it also posts the tenant's events there as an Auth0
custom-webhook log stream does (``engine.emulator.stream``): the history, then
every event the tenant writes while serving, until it stops.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from engine.textsafe import safe

if TYPE_CHECKING:
    from engine.emulator.logstore import LogStore
    from engine.emulator.stream import StreamSettings, StreamStats


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
    stream_to: Annotated[
        str | None,
        typer.Option(
            "--stream-to",
            help="Post the tenant's events to this URL as an Auth0 custom-webhook log stream "
            "(https, or http to loopback): the history, then live events.",
        ),
    ] = None,
    stream_token: Annotated[
        str | None,
        typer.Option(
            "--stream-token",
            envvar="SOAR_STREAM_TOKEN",
            show_envvar=True,
            help="The stream's Authorization header, sent verbatim (a secret: never printed; "
            "prefer the environment variable to the command line).",
        ),
    ] = None,
    stream_format: Annotated[
        str,
        typer.Option(
            "--stream-format", help="jsonl (JSONLINES), array (JSONARRAY) or object (JSONOBJECT)."
        ),
    ] = "jsonl",
    stream_batch: Annotated[
        int | None,
        typer.Option("--stream-batch", help="Events per request (default 100; object: always 1)."),
    ] = None,
    stream_seed: Annotated[
        int | None,
        typer.Option(
            "--stream-seed", help="Seed of the disorder and redeliveries (default --seed)."
        ),
    ] = None,
    stream_disorder: Annotated[
        int | None,
        typer.Option(
            "--stream-disorder",
            help="Places an event may move from log_id order (default the batch size; 0: none).",
        ),
    ] = None,
    stream_redeliver: Annotated[
        float,
        typer.Option(
            "--stream-redeliver",
            help="Fraction of delivered batches sent again later, as Auth0 may (duplicates).",
        ),
    ] = 0.05,
    stream_content_type: Annotated[
        str | None,
        typer.Option(
            "--stream-content-type",
            help="Content-Type header (default per format; Auth0 sends the stream's setting).",
        ),
    ] = None,
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
    streaming = _stream_settings(
        stream_to,
        stream_token,
        stream_format,
        stream_batch,
        seed if stream_seed is None else stream_seed,
        stream_disorder,
        stream_redeliver,
        stream_content_type,
    )
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
    stream = _start_stream(emu.tenant.logs, streaming) if streaming is not None else None
    try:
        stop.wait()
    finally:
        stop.set()
        if stream is not None:
            _stop_stream(*stream)
        removed = written is not None and written.remove()  # its secret dies with this tenant
        emu.stop()
    typer.echo(
        f"soar emulator: stopped{f'; removed {safe(env_file)}' if removed else ''}", err=True
    )


def _stream_settings(
    url: str | None,
    token: str | None,
    fmt: str,
    batch: int | None,
    seed: int,
    disorder: int | None,
    redeliver: float,
    content_type: str | None,
) -> StreamSettings | None:
    """The ``--stream-*`` options as settings, checked before the tenant starts."""
    from engine.emulator.stream import StreamSettings
    from engine.errors import UsageError
    from engine.secrets import Secret

    if url is None:
        given = token is not None or batch is not None or fmt != "jsonl" or disorder is not None
        if given:
            raise UsageError("the --stream-* options go with --stream-to URL")
        return None
    if token:
        import os

        from engine.cli.environ import env_redactor
        from engine.cli.output import use_redactor

        redactor = env_redactor(os.environ)
        redactor.add(token)  # whatever fails from here on cannot show it
        use_redactor(redactor)
    else:
        raise UsageError(
            "--stream-to needs --stream-token (or SOAR_STREAM_TOKEN): the Authorization header "
            "the receiving end expects"
        )
    if fmt not in ("jsonl", "array", "object"):
        raise UsageError(f"--stream-format {safe(fmt)}: use jsonl, array or object")
    return StreamSettings(
        url=url,
        token=Secret("stream_token", token),
        format=fmt,  # type: ignore[arg-type]  # checked just above
        batch=batch if batch is not None else (1 if fmt == "object" else 100),
        seed=seed,
        disorder=disorder,
        redeliver=redeliver,
        content_type=content_type,
    )


def _start_stream(
    logs: LogStore, settings: StreamSettings
) -> tuple[threading.Thread, threading.Event, StreamStats, StreamSettings]:
    from engine.emulator.stream import start_stream

    def health(message: str) -> None:
        typer.echo(f"soar emulator: stream health error: {safe(message)}", err=True)

    typer.echo(
        f"soar emulator: streaming to {settings.shown} ({settings.format}, "
        f"{settings.batch} a request)",
        err=True,
    )
    return (*start_stream(logs, settings, on_health=health), settings)


def _stop_stream(
    thread: threading.Thread, stop: threading.Event, stats: StreamStats, settings: StreamSettings
) -> None:
    """Stop the stream (the batch in flight finishes) and say what it did."""
    stop.set()
    thread.join(timeout=settings.timeout * 2)
    undelivered = f", {stats.undelivered} NOT delivered" if stats.undelivered else ""
    if stats.skipped:  # a served file's events without a log_id: no stream item can carry them
        undelivered += f", {stats.skipped} without a log_id not sent"
    typer.echo(
        f"soar emulator: streamed {stats.events} events in {stats.batches} batches to "
        f"{settings.shown} ({stats.retries} retries, {stats.redelivered} redelivered, "
        f"{stats.duplicates} duplicate items sent{undelivered})",
        err=True,
    )


def _stop_on_signals(stop: threading.Event) -> None:
    """SIGINT and SIGTERM end the serving loop (exit 0), not the process mid-write."""

    def handle(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handle)


def register(app: typer.Typer) -> None:
    app.command("emulator")(emulator_cmd)
