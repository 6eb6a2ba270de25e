"""``soar keys generate``: a new Ed25519 key pair to sign run logs with; the signing-key option.

The private key never reaches stdout, stderr or an error message: it goes to
a new file of mode 0600 only. stdout is the public key alone (base64), so
``PUB=$(soar keys generate -o keys)`` can capture it for ``SOAR_VERIFY_KEY``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from engine.textsafe import safe

if TYPE_CHECKING:
    from engine.audit.redact import Redactor
    from engine.audit.signing import Signer

keys_app = typer.Typer(
    help="Signing keys for run logs.", no_args_is_help=True, rich_markup_mode=None
)


@keys_app.command("generate")
def generate_cmd(
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output-dir", help="Write soar-signing.key and soar-signing.pub here."
        ),
    ] = None,
    private: Annotated[
        Path | None, typer.Option("--private", help="The private key file to create.")
    ] = None,
    public: Annotated[
        Path | None, typer.Option("--public", help="The public key file to create.")
    ] = None,
) -> None:
    """Write a new key pair (private key mode 0600; never over an existing file); print the public key."""
    from engine.audit.signing import KEY_FILE_ENV, PRIVATE_NAME, PUBLIC_NAME, VERIFY_ENV, generate
    from engine.errors import UsageError

    if out_dir is not None and (private or public):
        raise UsageError("give either -o DIR or --private FILE --public FILE, not both")
    if out_dir is not None:
        try:
            out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create {out_dir}: {exc.strerror or exc}") from None
        private, public = out_dir / PRIVATE_NAME, out_dir / PUBLIC_NAME
    elif private is None or public is None:
        raise UsageError("say where the keys go: -o DIR, or --private FILE --public FILE")
    signer = generate(private, public)
    for line in (
        f"private key: {private} (mode 0600: keep it with the operator; it signs run logs)",
        f"public key:  {public} (give it to whoever verifies)",
        f"key id:      {signer.key_id}",
        f"sign runs:   export {KEY_FILE_ENV}={private.resolve()}",
        f"verify:      soar verify RUNLOG --public-key {public}   (or {VERIFY_ENV}=<the line below>)",
    ):
        typer.echo(safe(line), err=True)
    typer.echo(signer.public.text())


def load_signer(option: Path | None, redactor: Redactor) -> Signer | None:
    """The run's signer from ``--signing-key`` or the environment; ``ConfigError`` on a bad key.

    Its key material is added to ``redactor`` before anything else can print.
    """
    from engine.audit.signing import signer_from

    signer = signer_from(option, os.environ)
    for form in signer.secret_forms() if signer else ():
        redactor.add(form)
    return signer


def say_signing(signer: Signer | None, resuming: Path | None = None) -> None:
    """Tell the operator, before the run, whether its log will be signed.

    A resumed log keeps the signing it was started with (``RunLogWriter.reopen``).
    """
    from engine.audit.runlog import read_records
    from engine.audit.signatures import declared_key
    from engine.audit.signing import KEY_ENV, KEY_FILE_ENV
    from engine.errors import RunLogError

    declared = signer.key_id if signer else None
    if resuming is not None:
        try:
            declared = declared_key(read_records(resuming))
        except RunLogError:
            return  # resume reports the unreadable log itself
        if declared and not signer:
            return  # resume refuses it, saying which key to give
        if not declared:
            typer.echo(
                "signing: the run log is UNSIGNED (the run was started without a signing key; the records "
                "this resume adds are not signed either)",
                err=True,
            )
            return
    if declared:
        typer.echo(f"signing: the run log is signed with key {declared}", err=True)
    else:
        typer.echo(
            f"signing: the run log is UNSIGNED (no signing key: set {KEY_FILE_ENV} or {KEY_ENV}, or give "
            "--signing-key FILE; `soar keys generate` makes one)",
            err=True,
        )


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
