"""Connection settings from the environment, as Auth0's own SDKs and tools read them."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from engine.audit.redact import check_secret
from engine.errors import ConfigError
from engine.httpguard import require_safe_scheme
from engine.secrets import Secret

# one DNS label of an ASCII (IDNA-encoded) host name: RFC 1123
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


@dataclass(frozen=True)
class Auth0Settings:
    """Where the tenant is and how to authenticate.

    ``AUTH0_DOMAIN``: a host (``acme.eu.auth0.com``, https assumed) or a full
    URL; plain ``http://`` only for loopback hosts (the emulator).
    ``AUTH0_CLIENT_ID`` + ``AUTH0_CLIENT_SECRET`` (client credentials), or a
    ready ``AUTH0_TOKEN``. ``AUTH0_AUDIENCE`` defaults to ``<base URL>/api/v2/``.
    ``SOAR_HTTP_TIMEOUT`` (seconds, default 30) bounds each request (connect,
    read, write, pool); ``SOAR_HTTP_MAX_CONNECTIONS`` (default 10) bounds the
    connection pool shared by a ``for_each`` step's threads.
    """

    base_url: str
    client_id: str | None = None
    client_secret: Secret | None = None
    token: Secret | None = None
    audience: str = ""
    timeout: float = 30.0
    max_connections: int = 10

    @property
    def host(self) -> str:
        return self.base_url.split("://", 1)[1]

    @classmethod
    def create(
        cls,
        domain: str,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        token: str | None = None,
        audience: str | None = None,
        timeout: float = 30.0,
        max_connections: int = 10,
    ) -> Auth0Settings:
        if not (0 < timeout <= 600):
            raise ConfigError("SOAR_HTTP_TIMEOUT must be between 0 and 600 seconds")
        if not (1 <= max_connections <= 100):
            raise ConfigError("SOAR_HTTP_MAX_CONNECTIONS must be between 1 and 100")
        domain = domain.strip()
        if not domain:
            raise ConfigError("AUTH0_DOMAIN is not set: export AUTH0_DOMAIN=<tenant>.auth0.com")
        base = base_url(domain)
        if not token and not (client_id and client_secret):
            missing = [
                n
                for n, v in (("AUTH0_CLIENT_ID", client_id), ("AUTH0_CLIENT_SECRET", client_secret))
                if not v
            ]
            raise ConfigError(
                f"{' and '.join(missing)} not set: export the Machine-to-Machine application's "
                "credentials (or a ready AUTH0_TOKEN)"
            )
        if client_secret:
            check_secret("AUTH0_CLIENT_SECRET", client_secret)
        if token:
            check_secret("AUTH0_TOKEN", token)
        return cls(
            base_url=base,
            client_id=client_id,
            client_secret=Secret("AUTH0_CLIENT_SECRET", client_secret) if client_secret else None,
            token=Secret("AUTH0_TOKEN", token) if token else None,
            audience=audience or f"{base}/api/v2/",
            timeout=timeout,
            max_connections=max_connections,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Auth0Settings:
        env = os.environ if env is None else env
        try:
            timeout = float(env.get("SOAR_HTTP_TIMEOUT") or "30")
        except ValueError:
            raise ConfigError("SOAR_HTTP_TIMEOUT must be a number of seconds") from None
        try:
            max_connections = int(env.get("SOAR_HTTP_MAX_CONNECTIONS") or "10")
        except ValueError:
            raise ConfigError("SOAR_HTTP_MAX_CONNECTIONS must be a whole number") from None
        for name in ("AUTH0_CLIENT_ID", "AUTH0_CLIENT_SECRET", "AUTH0_TOKEN", "AUTH0_AUDIENCE"):
            check_pasted(name, env.get(name) or "")
        return cls.create(
            env.get("AUTH0_DOMAIN", ""),
            client_id=env.get("AUTH0_CLIENT_ID") or None,
            client_secret=env.get("AUTH0_CLIENT_SECRET") or None,
            token=env.get("AUTH0_TOKEN") or None,
            audience=env.get("AUTH0_AUDIENCE") or None,
            timeout=timeout,
            max_connections=max_connections,
        )


def check_pasted(name: str, value: str) -> None:
    """Refuse a credential with whitespace in or around it (a value pasted with its newline).

    Sent as is, it fails later as a refused token, half-way into an incident;
    the message names the setting, never the value.
    """
    if value and (value != value.strip() or any(c.isspace() for c in value)):
        where = "around" if value.strip() and not any(c.isspace() for c in value.strip()) else "in"
        raise ConfigError(
            f"{name} has whitespace or a line break {where} it (pasted with it?): "
            f"export {name} again without it"
        )


def base_url(domain: str) -> str:
    """``scheme://host[:port]`` of ``AUTH0_DOMAIN``, refusing what is not a tenant address.

    Credentials in the URL (``https://user:pass@host``) are refused, not
    dropped: they would otherwise reach the run log as the tenant label, and
    the operator meant something else. Messages never repeat the value.
    """
    url = domain if "://" in domain else f"https://{domain}"
    try:
        parsed = require_safe_scheme(url, "AUTH0_DOMAIN")
    except ValueError:  # the IDNA codec's errors (an invalid xn-- label) are ValueErrors
        raise ConfigError(
            "AUTH0_DOMAIN: the host is not a valid domain name (use the tenant's domain, "
            "such as acme.eu.auth0.com)"
        ) from None
    if parsed.userinfo:
        raise ConfigError(
            "AUTH0_DOMAIN carries credentials (user:password@): remove them; the "
            "client credentials go in AUTH0_CLIENT_ID and AUTH0_CLIENT_SECRET"
        )
    host = parsed.raw_host.decode("ascii", "replace")
    if not _is_ip(host) and not all(_LABEL.match(p) for p in host.removesuffix(".").split(".")):
        raise ConfigError(
            "AUTH0_DOMAIN: the host is not a valid domain name (use the tenant's domain, "
            "such as acme.eu.auth0.com)"
        )
    return f"{parsed.scheme}://{parsed.netloc.decode()}"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
