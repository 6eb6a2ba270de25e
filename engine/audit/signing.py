"""Ed25519 keys that sign run logs: loading, generating, signing, checking.

A run log is hash-chained (``engine.audit.runlog``); the chain alone proves only
that the records agree with each other, since anyone who can edit the file can
recompute every hash. A signature by a key the forger does not hold is what
makes a rebuilt chain detectable. What is signed is the hash of the record a
``run.signed`` record follows (the chain head), inside a small canonical
message (``message``), so one signature covers every record before it.

The private key is a secret: it is read once, held by a ``Signer`` whose repr
shows only the key id, and every text form of it is handed to the run's
redactor (``Signer.secret_forms``). No error message here quotes key text.

Key text accepted (files, ``SOAR_SIGNING_KEY``, ``SOAR_VERIFY_KEY``): PEM
(PKCS#8 private, SubjectPublicKeyInfo public, as ``soar keys generate`` and
``openssl genpkey -algorithm ed25519`` write them), OpenSSH (``ssh-ed25519
AAAA...`` public, ``BEGIN OPENSSH PRIVATE KEY`` private), or the base64 of the
raw 32-byte key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from engine.errors import ConfigError

ALG = "ed25519"
KEY_ENV = "SOAR_SIGNING_KEY"
KEY_FILE_ENV = "SOAR_SIGNING_KEY_FILE"
VERIFY_ENV = "SOAR_VERIFY_KEY"
PRIVATE_NAME, PUBLIC_NAME = "soar-signing.key", "soar-signing.pub"  # names for `keys generate -o`
MAX_KEY_TEXT = 16384  # a key file is a few hundred bytes; more is not a key


def key_id(public: Ed25519PublicKey) -> str:
    """``ed25519:`` and the first 128 bits (hex) of SHA-256 of the raw 32-byte public key."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"{ALG}:{hashlib.sha256(raw).hexdigest()[:32]}"


def message(run_id: str, seq: int, head: str) -> bytes:
    """The bytes a signature covers: the run, and the seq and hash of the chain head."""
    doc = {"v": "soar-runlog-signature/1", "run_id": run_id, "seq": seq, "hash": head}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Verifier:
    """A public key that checks run-log signatures."""

    key: Ed25519PublicKey
    key_id: str

    @classmethod
    def of(cls, key: Ed25519PublicKey) -> Verifier:
        return cls(key, key_id(key))

    def check(self, run_id: str, seq: int, head: str, signature: str) -> bool:
        """Whether ``signature`` (base64) is this key's signature of ``message(...)``."""
        try:
            raw = base64.b64decode(signature.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            return False
        try:
            self.key.verify(raw, message(run_id, seq, head))
        except InvalidSignature:
            return False
        return True

    def text(self) -> str:
        """The public key as base64 of its raw 32 bytes (a ``SOAR_VERIFY_KEY`` value)."""
        raw = self.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return base64.b64encode(raw).decode()

    def pem(self) -> bytes:
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


class Signer:
    """The private key of a run log's writer. Its repr and str never show key material."""

    __slots__ = ("_key", "_source", "public")

    def __init__(self, key: Ed25519PrivateKey, source: str = "") -> None:
        self._key = key
        self._source = source  # the text it was read from, for redaction only
        self.public = Verifier.of(key.public_key())

    @property
    def key_id(self) -> str:
        return self.public.key_id

    def sign(self, run_id: str, seq: int, head: str) -> str:
        """The base64 signature of the chain head ``head`` (record ``seq`` of ``run_id``)."""
        return base64.b64encode(self._key.sign(message(run_id, seq, head))).decode()

    def secret_forms(self) -> list[str]:
        """Every text form of the private key a redactor must mask (each in all its encodings)."""
        raw = self._key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        der = self._key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        forms = [base64.b64encode(raw).decode(), raw.hex(), base64.b64encode(der).decode()]
        lines = (line.strip() for line in self._source.splitlines())
        forms += [line for line in lines if len(line) >= 16 and not line.startswith("-----")]
        return forms

    def pem(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def __repr__(self) -> str:
        return f"Signer({self.key_id})"

    __str__ = __repr__


# -- loading ------------------------------------------------------------------


def load_private(text: str, where: str) -> Signer:
    """A ``Signer`` from key text; ``where`` names its origin in errors (never its content)."""
    data = text.strip().encode("utf-8", "replace")
    hint = "expected an Ed25519 private key: PEM, OpenSSH, or base64 of 32 bytes (`soar keys generate` writes one)"
    key: object
    try:
        if b"BEGIN OPENSSH PRIVATE KEY" in data:
            key = serialization.load_ssh_private_key(data, password=None)
        elif data.startswith(b"-----BEGIN"):
            key = serialization.load_pem_private_key(data, password=None)
        else:
            key = Ed25519PrivateKey.from_private_bytes(_b64_32(data))
    except TypeError:  # cryptography's "password was not given but the key is encrypted"
        raise ConfigError(
            f"{where}: the private key is encrypted; soar reads only unencrypted keys "
            "(protect the file by its permissions, mode 0600)"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigError(f"{where}: not a private key ({hint})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{where}: not an Ed25519 key ({type(key).__name__}); {hint}")
    return Signer(key, text)


def load_public(text: str, where: str) -> Verifier:
    """A ``Verifier`` from public key text (PEM, ``ssh-ed25519 ...`` or base64 of 32 bytes)."""
    data = text.strip().encode("utf-8", "replace")
    hint = "expected an Ed25519 public key: PEM, ssh-ed25519, or base64 of 32 bytes (`soar keys generate` prints it)"
    if b"PRIVATE KEY" in data:
        raise ConfigError(
            f"{where}: this is a private key; verifying needs only the public key "
            "(keep the private key with the operator who signs)"
        )
    key: object
    try:
        if data.startswith(b"ssh-"):
            key = serialization.load_ssh_public_key(data)
        elif b"-----BEGIN" in data:
            key = serialization.load_pem_public_key(data)
        else:
            key = Ed25519PublicKey.from_public_bytes(_b64_32(data))
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigError(f"{where}: not a public key ({hint})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{where}: not an Ed25519 key ({type(key).__name__}); {hint}")
    return Verifier.of(key)


def _b64_32(data: bytes) -> bytes:
    try:
        raw = base64.b64decode(data, validate=True)
    except binascii.Error:
        raise ValueError("not base64") from None
    if len(raw) != 32:
        raise ValueError("not 32 bytes")
    return raw


def read_key_file(path: Path, where: str, *, private: bool) -> str:
    """A key file's text; a private key readable by other users is refused, as ssh does."""
    try:
        with path.open("rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            raw = f.read(MAX_KEY_TEXT + 1)
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise ConfigError(f"{where}: {path} is not a regular file")
    if private and os.name == "posix" and mode & 0o077:
        raise ConfigError(
            f"{where}: {path} is readable by other users (mode {stat.S_IMODE(mode):04o}); "
            f"a signing key must be private: chmod 600 {path}"
        )
    if len(raw) > MAX_KEY_TEXT:
        raise ConfigError(f"{where}: {path} is too large to be a key")
    return raw.decode("utf-8", "replace")


def signer_from(option: Path | None, environ: Mapping[str, str]) -> Signer | None:
    """The operator's signing key: ``--signing-key FILE``, else ``SOAR_SIGNING_KEY_FILE``, else
    ``SOAR_SIGNING_KEY`` (the key text itself); ``None`` when none is configured."""
    if option is not None:
        return load_private(read_key_file(option, "--signing-key", private=True), "--signing-key")
    text, file = environ.get(KEY_ENV) or "", environ.get(KEY_FILE_ENV) or ""
    if text and file:
        raise ConfigError(f"both {KEY_ENV} and {KEY_FILE_ENV} are set; keep one")
    if file:
        return load_private(read_key_file(Path(file), KEY_FILE_ENV, private=True), KEY_FILE_ENV)
    if text:
        return load_private(text, KEY_ENV)
    return None


def verifier_from(option: Path | None, environ: Mapping[str, str]) -> Verifier | None:
    """The auditor's public key: ``--public-key FILE``, else ``SOAR_VERIFY_KEY`` (key text)."""
    if option is not None:
        return load_public(read_key_file(option, "--public-key", private=False), "--public-key")
    text = environ.get(VERIFY_ENV) or ""
    if text:
        return load_public(text, VERIFY_ENV)
    return None


# -- generating ---------------------------------------------------------------


def generate(private_path: Path, public_path: Path) -> Signer:
    """Write a new key pair: the private key mode 0600, never over an existing file."""
    for path in (private_path, public_path):
        if path.exists() or path.is_symlink():
            raise ConfigError(f"{path} exists; soar never overwrites a key (choose another path)")
    signer = Signer(Ed25519PrivateKey.generate())
    _create(private_path, signer.pem(), 0o600)
    try:
        _create(public_path, signer.public.pem(), 0o644)
    except ConfigError:
        private_path.unlink()  # half a pair is no use; the new private key was never shown
        raise
    return signer


def _create(path: Path, data: bytes, mode: int) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError:
        raise ConfigError(f"{path} exists; soar never overwrites a key") from None
    except OSError as exc:
        raise ConfigError(f"cannot create {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), mode)  # exactly this mode, whatever the umask
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
