"""Throwaway TLS for the emulator: a certificate authority made at start, and a server certificate.

Current Auth0 clients (auth0-python 5 and later, the CLI, the other official
SDKs) build ``https://{domain}`` themselves, so a plain-http tenant cannot serve
them. ``soar emulator --tls`` makes a new CA and a certificate for the address
it listens on, writes only the CA certificate where a client can read it, and
prints ``export SSL_CERT_FILE=<ca>``: OpenSSL-based clients (Python's ``ssl``,
httpx, requests through certifi's fallback, curl) then trust it unmodified.

The private keys never touch a file a client can read: the server's key is
written with mode 0600 to a private temporary folder only long enough for
``ssl`` to load it (it loads keys from files only), then deleted.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Long enough for a drill or a day's rehearsal; the CA dies with the emulator anyway.
VALIDITY = dt.timedelta(days=7)


@dataclass(frozen=True)
class ServerTLS:
    """What a TLS emulator needs: the server context and where the CA certificate is."""

    context: ssl.SSLContext
    ca_file: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "soar emulator (throwaway)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _san(host: str) -> x509.SubjectAlternativeName:
    """The names the certificate is valid for: the listening address plus loopback's names."""
    names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            names.append(x509.DNSName(host))
    else:
        if not address.is_loopback:
            names.append(x509.IPAddress(address))
    return x509.SubjectAlternativeName(names)


def create_server_tls(host: str, ca_file: Path | None = None) -> ServerTLS:
    """A new CA and a server certificate for ``host``; the CA certificate goes to ``ca_file``.

    Without ``ca_file`` it is written into a new private temporary folder.
    Raises ``OSError`` when the file cannot be written.
    """
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("soar emulator CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(host))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(_san(host), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    if ca_file is None:
        ca_file = Path(tempfile.mkdtemp(prefix="soar-emulator-tls-")) / "ca.pem"
    ca_file.write_bytes(ca_pem)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    with tempfile.TemporaryDirectory(prefix="soar-emulator-key-") as private:
        chain = Path(private) / "server.pem"
        fd = os.open(chain, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            out.write(cert.public_bytes(serialization.Encoding.PEM))
        context.load_cert_chain(chain)
    return ServerTLS(context=context, ca_file=ca_file)
